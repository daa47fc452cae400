"""Reads of groups and the access checks every endpoint starts with.

Visibility: a group exists for a caller only while they are a member; an outsider gets
GroupNotFound (404) whatever the group's state, so existence never leaks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, F, OuterRef, QuerySet, Subquery

from core.rendering import b64, iso  # iso: groups.services writes event times with it
from groups.exceptions import GroupNotFound
from groups.models import ChatGroup, GroupMember, GroupMessage, GroupMessageKey, GroupRole
from media.selectors import attachments_metadata


def get_membership(*, group_id: UUID | str, user_id: UUID | str) -> GroupMember:
    """The caller's membership (with its group), or GroupNotFound for outsiders and unknown ids."""
    try:
        return GroupMember.objects.select_related("group").get(group_id=group_id, user_id=user_id)
    except (GroupMember.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        # A malformed id is just another group the caller cannot see.
        raise GroupNotFound() from None


def groups_for_user(*, user_id: UUID | str) -> QuerySet[ChatGroup]:
    """The user's groups with `my_role` and `member_count`, in one query per page."""
    member_count = (
        GroupMember.objects.filter(group_id=OuterRef("pk"))
        .order_by()
        .values("group_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        ChatGroup.objects.filter(memberships__user_id=user_id)
        .annotate(my_role=F("memberships__role"), member_count=Subquery(member_count))
        .order_by("-created_at", "-id")
    )


def group_members(*, group_id: UUID | str) -> list[GroupMember]:
    """Members with their users (one query), owner first, then by joining."""
    members = list(GroupMember.objects.filter(group_id=group_id).select_related("user"))
    order = {GroupRole.OWNER: 0, GroupRole.ADMIN: 1, GroupRole.MEMBER: 2}
    members.sort(key=lambda m: (order[m.role], m.joined_at, m.pk))
    return members


def member_user_ids(*, group_id: UUID | str) -> set[UUID]:
    return set(GroupMember.objects.filter(group_id=group_id).values_list("user_id", flat=True))


def group_ids_for_user(*, user_id: UUID | str) -> list[UUID]:
    """Ids of the chat groups the user is currently a member of (the gateway joins each)."""
    return list(GroupMember.objects.filter(user_id=user_id).values_list("group_id", flat=True))


def messages_for_member(*, membership: GroupMember) -> QuerySet[GroupMessage]:
    """The group's messages this member may read: those sent since they joined, each annotated
    with `my_key` (their own wrapped key, never anyone else's). Paginate newest first."""
    own_key = GroupMessageKey.objects.filter(message_id=OuterRef("pk"), user_id=membership.user_id).values(
        "encrypted_session_key"
    )[:1]
    return (
        GroupMessage.objects.filter(
            group_id=membership.group_id, stream_position__gt=membership.joined_position
        )
        .annotate(my_key=Subquery(own_key))
        .order_by("-stream_position")
    )


def attachments_for(messages: Iterable[GroupMessage]) -> dict[UUID, dict[str, Any]]:
    """Media metadata for every attachment of these messages, in one call (none if no ids)."""
    ids = {UUID(str(media_id)) for message in messages for media_id in (message.attachment_ids or [])}
    if not ids:
        return {}
    return attachments_metadata(media_ids=ids)


def _plain(value: Any) -> Any:
    """JSON-ready, written as DRF writes it: REST, /sync and the socket carry the same text."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def group_message_data(
    message: GroupMessage,
    *,
    encrypted_session_key: bytes | memoryview | None,
    attachments_by_id: dict[UUID, dict[str, Any]],
) -> dict[str, Any]:
    """`<group message>` as one member sees it: REST, /sync and the socket frame share this."""
    attachments = []
    for media_id in message.attachment_ids or []:
        metadata = attachments_by_id.get(UUID(str(media_id)))
        if metadata is not None:  # a deleted upload simply drops out
            attachments.append({key: _plain(value) for key, value in metadata.items()})
    return {
        "id": str(message.id),
        "group_id": str(message.group_id),
        "sender_id": _str_or_none(message.sender_id),
        "encrypted_content": b64(message.encrypted_content),
        "encrypted_session_key": b64(encrypted_session_key),
        "crypto_version": message.crypto_version,
        "encryption_algorithm": message.encryption_algorithm,
        "client_message_id": _str_or_none(message.client_message_id),
        "attachments": attachments,
        "created_at": iso(message.created_at),
    }


def group_sync_items(*, user_id: UUID | str, since: int, limit: int) -> list[dict]:
    """For messaging's /sync: the group events the user may see with stream position > since,
    oldest first, at most `limit`. Each item: {"position": int, "type": "group.message.new",
    "data": <group message as the member sees it (their own wrapped key only)>}.

    Only groups the user is in now, and only messages from their joining on: one query (plus
    one for attachment metadata when a message has attachments).
    """
    if limit <= 0:
        return []
    keys = list(
        GroupMessageKey.objects.filter(
            user_id=user_id,
            stream_position__gt=since,
            message__group__memberships__user_id=user_id,
            message__group__memberships__joined_position__lt=F("stream_position"),
        )
        .select_related("message")
        .order_by("stream_position")[:limit]
    )
    attachments = attachments_for(key.message for key in keys)
    return [
        {
            "position": key.stream_position,
            "type": "group.message.new",
            "data": group_message_data(
                key.message, encrypted_session_key=key.encrypted_session_key, attachments_by_id=attachments
            ),
        }
        for key in keys
    ]
