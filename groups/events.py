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
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

GROUP_MESSAGE_NEW = "group.message.new"
GROUP_UPDATED = "group.updated"
GROUP_DELETED = "group.deleted"
GROUP_MEMBER_ADDED = "group.member.added"
GROUP_MEMBER_REMOVED = "group.member.removed"


class AttachmentData(TypedDict, total=False):
    """`<media>` metadata from media.selectors.attachments_metadata (no download_url)."""

    id: str


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
    attachments: list[dict[str, Any]]
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
    attachments: list[dict[str, Any]]
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

    user: dict[str, Any]
    role: Literal["owner", "admin", "member"]
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
    reason: Literal["removed", "left", "account_deleted"]


class RoleChange(TypedDict):
    user_id: str
    role: Literal["owner", "admin", "member"]


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
