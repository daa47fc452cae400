"""Writes of messaging. REST, the WebSocket gateway and the admin all call these.

Lock order, everywhere: message rows, then the stream counter (`next_stream_position`), then
conversation rows. Events go out through `core.events.publish`, after commit.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from accounts.selectors import active_users_by_id, get_active_user
from core import metrics
from core.events import publish, publish_per_user
from core.exceptions import ApplicationError, PayloadTooLarge
from core.ids import as_uuid
from core.stream import next_stream_position, next_stream_positions
from media.selectors import attachments_for
from media.services import grant_media_access, revoke_media_access
from messaging.events import (
    MESSAGE_DELETED,
    MESSAGE_NEW,
    MESSAGE_READ,
    deleted_payload,
    message_payload,
    read_payload,
)
from messaging.exceptions import (
    CannotMessageSelf,
    MessageNotFound,
    NotModerator,
    NotRecipient,
    NotSender,
    RecipientBlockedSender,
    RecipientNotFound,
)
from messaging.models import Conversation, Message, MessageEvent, UnreadEmailState, conversation_key_for
from messaging.selectors import (
    conversation_messages,
    latest_visible_message,
    message_by_client_id,
    visible_to,
)
from messaging.statements import Stored, store_message
from messaging.tasks import send_unread_messages_email
from notifications.services import email_enqueue

logger = logging.getLogger(__name__)

DELETE_SCOPES = ("me", "everyone")
# The per-sender rate of sends (THROTTLE_RATES), one counter for every way in: REST and the socket.
MESSAGE_SEND_THROTTLE_SCOPE = "message_send"
MODERATOR_ROLES = ("moderator", "admin")


def _check_send_limits(
    *,
    encrypted_content: bytes,
    encrypted_session_key: bytes,
    sender_encrypted_session_key: bytes | None,
    crypto_version: str,
    encryption_algorithm: str,
) -> None:
    """The serializer checks these for REST; repeated here so no caller can skip them."""
    if len(encrypted_content) > settings.MESSAGE_MAX_CIPHERTEXT_BYTES:
        raise PayloadTooLarge(
            f"encrypted_content is larger than {settings.MESSAGE_MAX_CIPHERTEXT_BYTES} bytes."
        )
    for key in (encrypted_session_key, sender_encrypted_session_key or b""):
        if len(key) > settings.MESSAGE_MAX_KEY_BYTES:
            raise PayloadTooLarge(f"A session key is larger than {settings.MESSAGE_MAX_KEY_BYTES} bytes.")
    if not encrypted_content or not encrypted_session_key:
        raise ApplicationError("The ciphertext and the session key must not be empty.", code="invalid")
    if not (0 < len(crypto_version) <= 32 and 0 < len(encryption_algorithm) <= 64):
        raise ApplicationError(
            "crypto_version and encryption_algorithm must be short strings.", code="invalid"
        )


@dataclass(frozen=True)
class SentMessage:
    """What `message_send` answers (as groups.services.SentGroupMessage for a group message)."""

    message: Message
    created: bool  # False: an earlier send with the same client_message_id, returned as is


def message_send(
    *,
    sender_id: UUID | str,
    recipient_id: UUID | str,
    encrypted_content: bytes,
    encrypted_session_key: bytes,
    sender_encrypted_session_key: bytes | None,
    crypto_version: str,
    encryption_algorithm: str,
    client_message_id: UUID | None,
    attachment_ids: list[UUID],
    exclude_channel: str | None = None,
) -> SentMessage:
    """Store one encrypted message. A retry with the same `client_message_id` returns the first
    message with `created=False`, and changes nothing (also once a block stands between the
    two, or the recipient is gone).

    Queries: one on PostgreSQL (`messaging.statements.store_message`), plus media's grant when there are
    attachments; then, only when nothing was written, the lookup of an earlier message.
    The events are built after the transaction (they go out after its commit anyway).
    """
    sender_id, recipient_id = as_uuid(sender_id), as_uuid(recipient_id)
    _check_send_limits(
        encrypted_content=encrypted_content,
        encrypted_session_key=encrypted_session_key,
        sender_encrypted_session_key=sender_encrypted_session_key,
        crypto_version=crypto_version,
        encryption_algorithm=encryption_algorithm,
    )
    if sender_id == recipient_id:
        raise CannotMessageSelf()
    message = Message(
        sender_id=sender_id,
        recipient_id=recipient_id,
        conversation_key=conversation_key_for(sender_id, recipient_id),
        encrypted_content=bytes(encrypted_content),
        encrypted_session_key=bytes(encrypted_session_key),
        sender_encrypted_session_key=bytes(sender_encrypted_session_key)
        if sender_encrypted_session_key
        else None,
        crypto_version=crypto_version,
        encryption_algorithm=encryption_algorithm,
        client_message_id=client_message_id,
        attachment_ids=[str(media_id) for media_id in attachment_ids],
        created_at=timezone.now(),
    )
    if attachment_ids:
        with transaction.atomic():  # the grant commits with the message, or neither does
            stored = store_message(message)
            if stored is Stored.STORED:
                # Raises MediaNotOwned (400) for media that is not the sender's: the whole send
                # rolls back. The message is the grant's source: deleting it for everyone takes
                # it back. (These two statements run under the counter's lock: only sends with
                # attachments.)
                grant_media_access(
                    media_ids=list(attachment_ids),
                    owner_id=sender_id,
                    grantee_ids=[recipient_id],
                    source_id=message.pk,
                )
    else:
        stored = store_message(message)
    if stored is not Stored.STORED:
        # A retry of a message that went through (before a block, or before the recipient left)
        # still gets its answer.
        existing = message_by_client_id(sender_id=sender_id, client_message_id=client_message_id)
        if existing is not None:
            return SentMessage(message=existing, created=False)
        raise RecipientBlockedSender() if stored is Stored.BLOCKED else RecipientNotFound()
    message._state.adding = False

    attachments = attachments_for([message])  # one read of the metadata for both sides' events
    recipient_view = message_payload(message, viewer_id=recipient_id, attachments=attachments)
    sender_view = message_payload(message, viewer_id=sender_id, attachments=attachments)
    # One layer send for both sides (one Redis round trip, not one per side): the recipient's view
    # for both, with the fields the sender's own view differs in (their copy of the key) as the
    # sender's part. `exclude_channel` is the sending socket's, which only the sender's group holds.
    publish_per_user(
        {
            recipient_id: {},
            sender_id: {key: value for key, value in sender_view.items() if recipient_view[key] != value},  # type: ignore[literal-required]
        },
        MESSAGE_NEW,
        recipient_view,
        exclude_channel=exclude_channel,
    )
    unread_email_schedule(user_id=recipient_id)
    metrics.message_sent("direct", recipients=1)
    return SentMessage(message=message, created=True)


def _locked_message(*, message_id: UUID | str, visible_for: UUID | None) -> Message:
    queryset = Message.objects.select_for_update(no_key=True)
    if visible_for is not None:
        queryset = queryset.filter(visible_to(visible_for))
    try:
        return queryset.get(pk=message_id)
    except (Message.DoesNotExist, ValueError):
        raise MessageNotFound() from None


def _record_reads(messages: list[Message], *, exclude_channel: str | None) -> None:
    """Mark `messages` (locked, unread) read: one position each, an event for both sides."""
    positions = next_stream_positions(len(messages))
    now = timezone.now()
    Message.objects.filter(pk__in=[message.pk for message in messages]).update(read_at=now)
    events = []
    for message, position in zip(messages, positions, strict=True):
        message.read_at = now
        for user_id in (message.sender_id, message.recipient_id):
            events.append(
                MessageEvent(
                    user_id=user_id,
                    message=message,
                    kind=MessageEvent.Kind.READ,
                    position=position,
                    created_at=now,
                )
            )
        # The sender learns it was read; the reader's other devices clear their unread mark.
        publish(
            [message.sender_id, message.recipient_id],
            MESSAGE_READ,
            read_payload(message),
            exclude_channel=exclude_channel,
        )
    MessageEvent.objects.bulk_create(events)


@transaction.atomic
def message_mark_read(
    *, user_id: UUID | str, message_id: UUID | str, exclude_channel: str | None = None
) -> Message:
    """The recipient marks one message read. Idempotent: `read_at` is set once, events go once."""
    user_id = as_uuid(user_id)
    message = _locked_message(message_id=message_id, visible_for=user_id)
    if message.recipient_id != user_id:
        raise NotRecipient()
    if message.read_at is None:
        _record_reads([message], exclude_channel=exclude_channel)
    return message


@transaction.atomic
def conversation_mark_read(
    *,
    user_id: UUID | str,
    peer_id: UUID | str,
    up_to_message_id: UUID | str | None = None,
    exclude_channel: str | None = None,
) -> list[Message]:
    """Mark read every unread message `peer_id` sent the user, up to `up_to_message_id` if given
    (a message of this conversation the user can see). Returns the messages it marked."""
    user_id, peer_id = as_uuid(user_id), as_uuid(peer_id)
    visible = conversation_messages(user_id=user_id, peer_id=peer_id)
    unread = visible.filter(sender_id=peer_id, read_at__isnull=True)
    if up_to_message_id is not None:
        up_to = visible.filter(pk=up_to_message_id).values_list("stream_position", flat=True).first()
        if up_to is None:
            raise MessageNotFound()
        unread = unread.filter(stream_position__lte=up_to)
    messages = list(unread.select_for_update(no_key=True).order_by("stream_position"))
    if messages:
        _record_reads(messages, exclude_channel=exclude_channel)
    return messages


def _delete_for_everyone(message: Message, *, exclude_channel: str | None) -> None:
    if message.is_deleted:
        return  # already a tombstone: nothing changes, nothing is announced again
    position = next_stream_position()
    now = timezone.now()
    if message.attachment_ids:
        # The recipient loses the attachments with the message (the sender keeps their uploads);
        # media this recipient was also sent in another message stays readable through that one.
        revoke_media_access(source_ids=[message.pk])
    message.encrypted_content = b""
    message.encrypted_session_key = b""
    message.sender_encrypted_session_key = None
    message.attachment_ids = []
    message.deleted_at = now
    message.save(
        update_fields=[
            "encrypted_content",
            "encrypted_session_key",
            "sender_encrypted_session_key",
            "attachment_ids",
            "deleted_at",
        ]
    )
    MessageEvent.objects.bulk_create(
        MessageEvent(
            user_id=user_id,
            message=message,
            kind=MessageEvent.Kind.DELETED,
            position=position,
            created_at=now,
        )
        for user_id in (message.sender_id, message.recipient_id)
    )
    publish(
        [message.sender_id, message.recipient_id],
        MESSAGE_DELETED,
        deleted_payload(message, scope="everyone", deleted_at=now),
        exclude_channel=exclude_channel,
    )


def _hide_for(message: Message, user_id: UUID, *, exclude_channel: str | None) -> None:
    position = next_stream_position()
    now = timezone.now()
    field = "sender_hidden_position" if user_id == message.sender_id else "recipient_hidden_position"
    setattr(message, field, position)
    message.save(update_fields=[field])
    MessageEvent.objects.create(
        user_id=user_id, message=message, kind=MessageEvent.Kind.HIDDEN, position=position, created_at=now
    )
    peer_id = message.recipient_id if user_id == message.sender_id else message.sender_id
    conversation = Conversation.objects.filter(owner_id=user_id, peer_id=peer_id, last_message_id=message.pk)
    if conversation.exists():
        # The list shows the newest message the user can still see (or drops the conversation).
        latest = latest_visible_message(user_id=user_id, peer_id=peer_id)
        conversation.update(
            last_message=latest, last_position=latest.stream_position if latest else position, updated_at=now
        )
    # Only the user's own devices: the peer keeps their copy and learns nothing.
    publish(
        [user_id],
        MESSAGE_DELETED,
        deleted_payload(message, scope="me", deleted_at=now),
        exclude_channel=exclude_channel,
    )


@transaction.atomic
def message_delete(
    *, user_id: UUID | str, message_id: UUID | str, scope: str, exclude_channel: str | None = None
) -> None:
    """`scope="me"`: either side hides it for themself. `scope="everyone"`: the sender wipes the
    ciphertext, keys and attachments, and the recipient's access to the attached media goes with
    them (in this transaction); a tombstone stays so both sides render "deleted"."""
    if scope not in DELETE_SCOPES:
        raise ApplicationError(
            "scope must be 'me' or 'everyone'.", code="invalid", errors={"scope": ["Invalid."]}
        )
    user_id = as_uuid(user_id)
    message = _locked_message(message_id=message_id, visible_for=user_id)
    if scope == "everyone":
        if message.sender_id != user_id:
            raise NotSender()
        _delete_for_everyone(message, exclude_channel=exclude_channel)
    else:
        _hide_for(message, user_id, exclude_channel=exclude_channel)


@transaction.atomic
def message_moderate_delete(*, moderator_id: UUID | str, message_id: UUID | str) -> None:
    """A moderator (or admin) deletes any message for everyone, as its sender could."""
    moderator = get_active_user(user_id=moderator_id)
    if not (moderator.is_superuser or moderator.role in MODERATOR_ROLES):
        raise NotModerator()
    _delete_for_everyone(_locked_message(message_id=message_id, visible_for=None), exclude_channel=None)


# --- The "you have unread messages" email --------------------------------------------------------
#
# As Zulip's missed-message emails and Synapse's email pusher do: a message that is still unread
# some time after it arrived, for a recipient who has not been online since, is announced by
# email, with counts and sender names only (the server cannot read messages, and would not put
# them in an email). One burst of messages gives one email: the first message of a quiet
# recipient schedules one delayed task (a cache key marks it pending for the delay), and that
# task counts every unread message it finds then.

UNREAD_EMAIL_MAX_NAMES = 5


def _unread_email_pending_key(user_id: UUID | str) -> str:
    return f"messaging:unread-email-pending:{user_id}"


def unread_email_schedule(*, user_id: UUID | str) -> None:
    """After commit: schedule the recipient's unread check for when the delay ends, unless one
    is already pending. No database query (the send keeps its budget): one cache `add` and one
    broker publish, both after commit."""
    delay = settings.MESSAGING_UNREAD_EMAIL_DELAY_SECONDS
    if delay <= 0:
        return

    def dispatch() -> None:
        key = _unread_email_pending_key(user_id)
        try:
            if not cache.add(key, 1, timeout=delay):
                return  # a check is already due for this user; it will count this message too
            send_unread_messages_email.apply_async(args=[str(user_id), time.time() + delay], countdown=delay)
        except Exception as exc:  # an unreachable cache or broker must not fail a committed send
            logger.warning("Unread email for %s not scheduled: %s", user_id, exc.__class__.__name__)
            with contextlib.suppress(Exception):  # the cache may be the part that is down
                cache.delete(key)  # the next message tries again

    transaction.on_commit(dispatch)


@dataclass(frozen=True)
class UnreadEmailOutcome:
    # "sent"; "inactive" (no such active, verified user); "nothing_missed" (read, seen online,
    # or already announced); "throttled" (an email went out less than the interval ago).
    status: str
    unread_count: int = 0
    retry_in: int | None = None


@transaction.atomic
def unread_email_send(*, user_id: UUID | str, now: datetime | None = None) -> UnreadEmailOutcome:
    """Email `user_id` about their unread messages if, now, at least one message is missed:
    unread, not deleted or hidden, older than MESSAGING_UNREAD_EMAIL_DELAY_SECONDS, newer than
    the user's `last_seen` (they have not been online since it arrived) and not counted by an
    earlier email. The email counts all their unread messages and names up to five senders,
    most recent first; it goes through notifications' outbox in this transaction.

    Concurrent checks for one user serialise on their state row, so one email covers a burst.
    """
    now = now or timezone.now()
    try:
        user = get_active_user(user_id=user_id)
    except ApplicationError:
        return UnreadEmailOutcome("inactive")
    if not (user.email and user.is_verified):
        return UnreadEmailOutcome("inactive")  # an address nobody confirmed gets no notifications
    UnreadEmailState.objects.get_or_create(user_id=user.pk)
    state = UnreadEmailState.objects.select_for_update(no_key=True).get(user_id=user.pk)

    unread = Message.objects.filter(
        recipient_id=user.pk,
        read_at__isnull=True,
        deleted_at__isnull=True,
        recipient_hidden_position__isnull=True,
    )
    missed = unread.filter(
        stream_position__gt=state.last_position,
        created_at__lte=now - timedelta(seconds=settings.MESSAGING_UNREAD_EMAIL_DELAY_SECONDS),
    )
    if user.last_seen is not None:
        missed = missed.filter(created_at__gt=user.last_seen)
    if not missed.exists():
        return UnreadEmailOutcome("nothing_missed")
    interval = settings.MESSAGING_UNREAD_EMAIL_MIN_INTERVAL_SECONDS
    if state.last_sent_at is not None and now < state.last_sent_at + timedelta(seconds=interval):
        wait = state.last_sent_at + timedelta(seconds=interval) - now
        return UnreadEmailOutcome("throttled", retry_in=max(1, int(wait.total_seconds()) + 1))

    by_sender = list(
        unread.values("sender_id")
        .annotate(count=Count("id"), newest=Max("stream_position"))
        .order_by("-newest")
    )
    total = sum(row["count"] for row in by_sender)
    senders = active_users_by_id(user_ids=[row["sender_id"] for row in by_sender[:UNREAD_EMAIL_MAX_NAMES]])
    names = [
        senders[row["sender_id"]].full_name or senders[row["sender_id"]].username
        for row in by_sender[:UNREAD_EMAIL_MAX_NAMES]
        if row["sender_id"] in senders
    ]
    email_enqueue(
        to=user.email,
        template="unread_messages",
        context={
            "username": user.username,
            "unread_count": total,
            "sender_names": names,
            "open_url": settings.FRONTEND_URL,
        },
    )
    state.last_position = max(row["newest"] for row in by_sender)
    state.last_sent_at = now
    state.save(update_fields=["last_position", "last_sent_at"])
    return UnreadEmailOutcome("sent", unread_count=total)
