"""Events the groups app publishes to sockets, and the contract the realtime gateway implements.

All are sent after commit through `core.events`, one layer send per event, never a loop
of per-member sends. Channel-layer group names: `realtime_chat_group_name(group_id)` for every socket
of every member, `realtime_user_group_name(user_id)` for one user's sockets.

What the gateway (realtime) must do with each, precisely:

`group.message.new` (to each recipient member's user group; `GroupMessageLayerEvent`)
    Sent with `publish_per_user`: `data` is the message without `encrypted_session_key`, and each
    member's part is `{"encrypted_session_key": <their base64 wrapped key>}`. The layer carries a
    member's part only to the process inboxes holding that member's sockets (O(members) bytes per
    message), and the consumer merges its own user's part into the frame, so the frame's `data` is
    exactly the REST `<group message>` that user would read (`GroupMessageData`). A client never
    receives another member's key. Addressed to the members of the moment it was sent (the keys'
    owners, fixed under the group's lock), it needs no chat-group filter: a removed member is
    simply not among them.

`group.member.added` (to the chat group, THEN to the added user; `GroupMemberAddedEvent`)
    Sent to the chat group first (existing members' sockets), then via `publish([user_id])` to the
    added users' sockets. When the socket's user is in `data["user_ids"]` and the socket is not
    yet in the chat group: `group_add` the socket to the chat group, then forward the frame. If
    the socket is already in it, the frame is a duplicate: drop it. Group creation sends one
    user-addressed copy to every initial member, the creator included (`user_ids` lists them all;
    nobody is in the new chat group yet, so there is no chat-group copy then).
    `members` is what the copy's receivers do not know yet: the chat-group copy lists the added
    users; the added users' copy lists every member, so a client that was just added builds the
    group (`group` + `members`, its own role among them) without fetching it.

`group.member.removed` (to the chat group, THEN to the removed user; `GroupMemberRemovedEvent`)
    The removed user's sockets are still in the chat group, so they receive the chat-group copy
    first: when `data["user_id"]` is the socket's user, forward it and `group_discard` the socket
    from the chat group. The user-addressed copy that follows then finds the socket outside the
    chat group: drop it (duplicate). A socket that was outside the chat group for another reason
    (connected after the removal) drops it too; /sync is the source of truth.

`group.updated` (to the chat group; `GroupUpdatedEvent`): forward as is.

`group.deleted` (to the chat group; `GroupDeletedEvent`): forward, then `group_discard` the socket.

Ordering: every copy is sent from one on-commit callback in the order written above, so a socket
receives the chat-group copy before the user-addressed one.

The builders below make every payload from the models: the services publish them, the
selectors (/sync) and the HTTP layer (`<group message>`) return the same dicts.
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Sequence
from typing import Any, Literal, TypedDict, cast
from uuid import UUID

from accounts.events import PublicUserPayload, public_user_payload
from core.rendering import b64, iso
from groups.models import ChatGroup, GroupMember, GroupMessage
from media.events import MediaMetadata, attachments_of

Role = Literal["owner", "admin", "member"]
RemovalReason = Literal["removed", "left", "account_deleted"]

GROUP_MESSAGE_NEW = "group.message.new"
GROUP_UPDATED = "group.updated"
GROUP_DELETED = "group.deleted"
GROUP_MEMBER_ADDED = "group.member.added"
GROUP_MEMBER_REMOVED = "group.member.removed"


class GroupMessageData(TypedDict):
    """`<group message>` as one member sees it (REST, /sync, and the socket frame)."""

    id: str
    group_id: str
    sender_id: str | None
    encrypted_content: str  # base64
    encrypted_session_key: str | None  # base64: this member's own wrapped key
    crypto_version: str
    encryption_algorithm: str
    client_message_id: str | None
    attachments: list[MediaMetadata]
    created_at: str


class GroupMessageLayerEvent(TypedDict):
    """The `data` published for `group.message.new`: the message without `encrypted_session_key`
    (each member's own key is their `publish_per_user` part, see above)."""

    id: str
    group_id: str
    sender_id: str | None
    encrypted_content: str
    crypto_version: str
    encryption_algorithm: str
    client_message_id: str | None
    attachments: list[MediaMetadata]
    created_at: str


class GroupSummary(TypedDict):
    id: str
    name: str
    description: str
    creator_id: str | None
    created_at: str
    updated_at: str


class MemberData(TypedDict):
    """One entry of `<group>.members`: `user` is the public `<user>`."""

    user: PublicUserPayload
    role: Role
    joined_at: str


class GroupMemberAddedEvent(TypedDict):
    group_id: str
    user_ids: list[str]  # the users who joined (the socket filter keys on it)
    group: GroupSummary
    # What the receivers do not know yet: the added users (chat-group copy), every member (the
    # added users' own copy, creation included).
    members: list[MemberData]
    added_by: str | None


class GroupMemberRemovedEvent(TypedDict):
    group_id: str
    user_id: str
    removed_by: str | None  # None when the account was deleted
    reason: RemovalReason


class RoleChange(TypedDict):
    user_id: str
    role: Role


class GroupUpdatedEvent(TypedDict):
    """Name/description edits and role changes (role changes and ownership transfers list the
    new roles in `role_changes`; a plain edit has none)."""

    group_id: str
    name: str
    description: str
    updated_at: str  # as `<group>.updated_at`
    updated_by: str | None
    role_changes: list[RoleChange]


class GroupDeletedEvent(TypedDict):
    group_id: str
    deleted_by: str | None  # None: the last member's account was deleted


class GroupSyncItem(TypedDict):
    """One group item of messaging's /sync: a `group.message.new` at its stream position."""

    position: int
    type: str
    data: GroupMessageData


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def group_message_data(
    message: GroupMessage,
    *,
    encrypted_session_key: bytes | memoryview | None,
    attachments_by_id: dict[UUID, MediaMetadata],
) -> GroupMessageData:
    """`<group message>` as one member sees it: REST, /sync and the socket frame share this."""
    return {
        "id": str(message.id),
        "group_id": str(message.group_id),
        "sender_id": _str_or_none(message.sender_id),
        "encrypted_content": cast(str, b64(message.encrypted_content)),
        "encrypted_session_key": b64(encrypted_session_key),
        "crypto_version": message.crypto_version,
        "encryption_algorithm": message.encryption_algorithm,
        "client_message_id": _str_or_none(message.client_message_id),
        "attachments": attachments_of(message.attachment_ids, attachments_by_id),
        "created_at": iso(message.created_at),
    }


def group_message_layer_data(
    message: GroupMessage, *, attachments_by_id: dict[UUID, MediaMetadata]
) -> GroupMessageLayerEvent:
    """`group.message.new`'s shared `data`: the message without any member's key."""
    data = dict(group_message_data(message, encrypted_session_key=None, attachments_by_id=attachments_by_id))
    del data["encrypted_session_key"]
    return cast(GroupMessageLayerEvent, data)


def member_key_part(encrypted_session_key: bytes) -> dict[str, str]:
    """One member's own part of `group.message.new` (`publish_per_user`): their wrapped key."""
    # binascii directly: this runs once per member of every group message.
    return {"encrypted_session_key": b2a_base64(encrypted_session_key, newline=False).decode("ascii")}


def group_summary(group: ChatGroup) -> GroupSummary:
    return {
        "id": str(group.pk),
        "name": group.name,
        "description": group.description,
        "creator_id": _str_or_none(group.creator_id),
        "created_at": iso(group.created_at),
        "updated_at": iso(group.updated_at),
    }


def member_data(membership: GroupMember) -> MemberData:
    """An event reaches many viewers at once: nobody's `last_seen` (the fail-closed `<user>`)."""
    return {
        "user": public_user_payload(membership.user, may_see_activity=False),
        "role": cast(Role, membership.role),
        "joined_at": iso(membership.joined_at),
    }


def member_added_data(
    group: ChatGroup,
    *,
    user_ids: Sequence[UUID],
    members: Sequence[GroupMember],
    added_by: UUID | None,
) -> GroupMemberAddedEvent:
    return {
        "group_id": str(group.pk),
        "user_ids": [str(user_id) for user_id in user_ids],
        "group": group_summary(group),
        "members": [member_data(membership) for membership in members],
        "added_by": _str_or_none(added_by),
    }


def member_removed_data(
    group_id: UUID, *, user_id: UUID, removed_by: UUID | None, reason: RemovalReason
) -> GroupMemberRemovedEvent:
    return {
        "group_id": str(group_id),
        "user_id": str(user_id),
        "removed_by": _str_or_none(removed_by),
        "reason": reason,
    }


def group_updated_data(
    group: ChatGroup, *, updated_by: UUID | None, role_changes: Sequence[tuple[UUID, str]] = ()
) -> GroupUpdatedEvent:
    return {
        "group_id": str(group.pk),
        "name": group.name,
        "description": group.description,
        "updated_at": iso(group.updated_at),
        "updated_by": _str_or_none(updated_by),
        "role_changes": [
            {"user_id": str(user_id), "role": cast(Role, role)} for user_id, role in role_changes
        ],
    }


def group_deleted_data(group_id: UUID, *, deleted_by: UUID | None) -> GroupDeletedEvent:
    return {"group_id": str(group_id), "deleted_by": _str_or_none(deleted_by)}
