"""Reads of messaging and its access checks.

Who may see a message: its sender and its recipient, unless that side deleted it "for me".
Everyone else gets "not found" (no existence oracle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Count, Q, QuerySet

from accounts.selectors import may_see_activity
from core.ids import as_uuid
from core.stream import current_stream_position
from groups.selectors import group_sync_items
from messaging.exceptions import InvalidSyncToken, MessageNotFound
from messaging.models import Conversation, Message, MessageEvent, conversation_key_for
from messaging.statements import PagedMessageRow, conversation_page_rows


def visible_to(user_id: UUID) -> Q:
    """Messages `user_id` takes part in and has not deleted for themself."""
    return Q(sender_id=user_id, sender_hidden_position__isnull=True) | Q(
        recipient_id=user_id, recipient_hidden_position__isnull=True
    )


def visible_messages(*, user_id: UUID | str) -> QuerySet[Message]:
    return Message.objects.filter(visible_to(as_uuid(user_id)))


def message_get_visible(*, user_id: UUID | str, message_id: UUID | str) -> Message:
    try:
        return visible_messages(user_id=user_id).get(pk=message_id)
    except (Message.DoesNotExist, ValueError):
        raise MessageNotFound() from None


def message_by_client_id(*, sender_id: UUID, client_message_id: UUID | None) -> Message | None:
    if client_message_id is None:
        return None
    return Message.objects.filter(sender_id=sender_id, client_message_id=client_message_id).first()


def conversation_messages(*, user_id: UUID | str, peer_id: UUID | str) -> QuerySet[Message]:
    """The caller's messages with `peer_id` (any user id: an unknown one is simply empty).

    One backward range scan of `msg_conversation_position` that stops after a page. The key
    alone picks the pair: it is a uuid5 of the two (server-generated) user ids. Only the
    caller's "deleted for me" is filtered, written as two NOTs on purpose: with the old
    participant OR (`sender=a AND recipient=b OR sender=b AND recipient=a`) PostgreSQL took the
    clauses as independent, expected ~10 rows of a 27,000-message conversation and sorted all
    of them (123 ms a page on the 1M-message bench); this form keeps its estimate right and the
    plan an ordered index scan (0.2 ms; bench/explain_messaging.py).
    """
    user_id, peer_id = as_uuid(user_id), as_uuid(peer_id)
    return Message.objects.filter(conversation_key=conversation_key_for(user_id, peer_id)).filter(
        ~Q(sender_id=user_id, sender_hidden_position__isnull=False),
        ~Q(recipient_id=user_id, recipient_hidden_position__isnull=False),
    )


def conversation_page(
    *,
    user_id: UUID | str,
    peer_id: UUID | str,
    position: int | None,
    ascending: bool,
    offset: int,
    limit: int,
) -> list[PagedMessageRow]:
    """A page of `conversation_messages` as rows (a history page), by `stream_position`: newest
    first below `position`, or, `ascending`, oldest first above it (from an end when it is None);
    skipping `offset`, at most `limit`. The same messages as the queryset's, read by one
    hand-written statement: building the query and 50 `Message` instances was most of a page's
    CPU outside authentication, and the body needs neither."""
    user_id, peer_id = as_uuid(user_id), as_uuid(peer_id)
    return conversation_page_rows(
        conversation_key=conversation_key_for(user_id, peer_id),
        user_id=user_id,
        position=position,
        ascending=ascending,
        offset=offset,
        limit=limit,
    )


def latest_visible_message(*, user_id: UUID, peer_id: UUID) -> Message | None:
    return conversation_messages(user_id=user_id, peer_id=peer_id).order_by("-stream_position").first()


def conversations_for(*, user_id: UUID) -> QuerySet[Conversation]:
    """The caller's conversations with a message they can still see, most recent first; each with
    `may_see_activity`: may the caller see the peer's last_seen (an accepted contact)."""
    return (
        Conversation.objects.filter(owner_id=user_id, last_message__isnull=False)
        .select_related("peer", "last_message")
        .annotate(may_see_activity=may_see_activity(viewer_id=user_id, user_ref="peer_id"))
    )


def unread_counts(*, user_id: UUID, peer_ids: list[UUID]) -> dict[UUID, int]:
    """Unread messages from each peer to the user: one grouped query on `msg_unread_by_recipient`."""
    if not peer_ids:
        return {}
    rows = (
        Message.objects.filter(
            recipient_id=user_id,
            sender_id__in=peer_ids,
            read_at__isnull=True,
            deleted_at__isnull=True,
            recipient_hidden_position__isnull=True,
        )
        .values("sender_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {row["sender_id"]: row["count"] for row in rows}


# --- /sync -------------------------------------------------------------------------------------

SYNC_TOKEN_PREFIX = "s"  # noqa: S105 (a format prefix, not a secret)


def sync_token(position: int) -> str:
    """Opaque to clients; durable, because it is a position of the database's counter."""
    return f"{SYNC_TOKEN_PREFIX}{position}"


def fresh_sync_token() -> str:
    """For a client with no history yet: everything from now on."""
    return sync_token(current_stream_position())


# What parse_sync_token accepts, for the OpenAPI schema of `?since=` ("" too: a fresh token).
SYNC_TOKEN_PATTERN = f"^{SYNC_TOKEN_PREFIX}[0-9]{{1,18}}$"


def parse_sync_token(token: str) -> int:
    digits = token[len(SYNC_TOKEN_PREFIX) :] if token.startswith(SYNC_TOKEN_PREFIX) else ""
    # ASCII digits only: str.isdigit() also accepts "²" or "١٢", which int() refuses or reads.
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise InvalidSyncToken(errors={"since": ["Not a sync token."]})
    return int(digits)


@dataclass(frozen=True)
class SyncEntry:
    position: int
    # "message.new" (obj: Message), "message.read"/"message.deleted" (obj: MessageEvent),
    # or a group item's own type (obj: the item dict from groups).
    type: str
    obj: Any


@dataclass(frozen=True)
class SyncPage:
    entries: list[SyncEntry]
    next_since: int
    has_more: bool


def sync_page(*, user_id: UUID | str, since: int, limit: int) -> SyncPage:
    """Everything after `since` the user's devices must learn, oldest first, each once.

    The counter is read first: every position at or below it is committed (writers hold the
    counter row until commit), so bounding every source by it gives one consistent cut. Each
    source returns its `limit` oldest; the merge keeps the `limit` oldest overall, and the next
    token is the last kept position, so nothing at or below it is left behind in any source.
    """
    user_id = as_uuid(user_id)
    current = current_stream_position()
    if since > current:
        # No token this server handed out is ahead of its counter: a made-up token, or one
        # from another deployment. Keeping it would silence /sync until the counter caught up.
        raise InvalidSyncToken(errors={"since": ["Ahead of the stream: call /sync without `since`."]})
    if since == current:
        return SyncPage(entries=[], next_since=since, has_more=False)
    window = {"stream_position__gt": since, "stream_position__lte": current}
    received = Message.objects.filter(recipient_id=user_id, recipient_hidden_position__isnull=True, **window)
    sent = Message.objects.filter(sender_id=user_id, sender_hidden_position__isnull=True, **window)
    events = MessageEvent.objects.filter(user_id=user_id, position__gt=since, position__lte=current)

    entries = [
        SyncEntry(message.stream_position, "message.new", message)
        for source in (received, sent)
        for message in source.order_by("stream_position")[:limit]
    ]
    entries += [
        SyncEntry(
            event.position,
            "message.read" if event.kind == MessageEvent.Kind.READ else "message.deleted",
            event,
        )
        for event in events.select_related("message").order_by("position")[:limit]
    ]
    entries += [
        SyncEntry(int(item["position"]), item["type"], item)
        for item in group_sync_items(user_id=user_id, since=since, limit=limit)
        if int(item["position"]) <= current
    ]
    entries.sort(key=lambda entry: entry.position)
    if len(entries) >= limit:
        entries = entries[:limit]
        return SyncPage(entries=entries, next_since=entries[-1].position, has_more=True)
    return SyncPage(entries=entries, next_since=current, has_more=False)
