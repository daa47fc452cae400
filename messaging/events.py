"""The events messaging publishes, their payloads, and the builders every path uses.

`message.new` (`MessagePayload`), to each side's devices: the message as that side sees it
(the sender's own wrapped key only to the sender). The sending socket gets `message.sent`
(`MessageSentPayload`: the same message plus `created`) instead of its own `message.new`.
`message.read` (`ReadPayload`), to the sender and the reader's other devices.
`message.deleted` (`DeletedPayload`), to whoever sees the change.

REST (`<message>`), /sync (items of these types, `SyncItem`) and the socket carry the same
dicts, built here (`<message>` from one `MessageRow`: a history page's row as read, or a
model's): a client's state built from events equals a fresh read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, Literal, TypedDict
from uuid import UUID

from core.rendering import b64, current_zone, iso
from media.events import MediaMetadata, attachments_of
from media.selectors import attachments_for, attachments_for_ids
from messaging.models import Message, MessageEvent
from messaging.selectors import SyncEntry
from messaging.statements import MessageRow

MESSAGE_NEW = "message.new"
MESSAGE_SENT = "message.sent"
MESSAGE_READ = "message.read"
MESSAGE_DELETED = "message.deleted"


class MessagePayload(TypedDict):
    """`<message>` as one participant sees it; a message deleted for everyone is a tombstone
    (`is_deleted: true`, no ciphertext, no keys, no attachments)."""

    id: str
    sender_id: str
    recipient_id: str
    encrypted_content: str | None  # base64
    encrypted_session_key: str | None  # base64
    sender_encrypted_session_key: str | None  # base64: the sender's devices only
    crypto_version: str
    encryption_algorithm: str
    client_message_id: str | None
    attachments: list[MediaMetadata]
    is_read: bool
    read_at: str | None
    is_deleted: bool
    created_at: str | None


class MessageSentPayload(MessagePayload):
    created: bool  # False: a retry with the same client_message_id, the first message returned


class ReadPayload(TypedDict):
    id: str
    sender_id: str
    recipient_id: str
    read_at: str | None


class DeletedPayload(TypedDict):
    id: str
    sender_id: str
    recipient_id: str
    scope: Literal["everyone", "me"]  # a tombstone now, or hidden on this account
    deleted_at: str | None


class SyncItem(TypedDict):
    type: str  # one of the event types above, or "group.message.new"
    data: Any  # that event's payload


def message_row(message: Message) -> MessageRow:
    """The row `message_row_payload` reads, from a model (one message: a send, a receipt)."""
    return {
        "id": message.id,
        "sender_id": message.sender_id,
        "recipient_id": message.recipient_id,
        "encrypted_content": message.encrypted_content,
        "encrypted_session_key": message.encrypted_session_key,
        "sender_encrypted_session_key": message.sender_encrypted_session_key,
        "crypto_version": message.crypto_version,
        "encryption_algorithm": message.encryption_algorithm,
        "client_message_id": message.client_message_id,
        "attachment_ids": message.attachment_ids,
        "read_at": message.read_at,
        "deleted_at": message.deleted_at,
        "created_at": message.created_at,
    }


def message_row_payload(
    row: MessageRow,
    *,
    viewer_id: UUID | str,
    attachments: dict[UUID, MediaMetadata] | None = None,
    zone: tzinfo | None = None,
) -> MessagePayload:
    """`<message>` for one viewer, from its row: the one definition of the shape, behind the REST
    bodies, the `message.new` event and the sync item (`message_payload` for a model).

    When rendering many messages, pass `attachments` (from `media.selectors.attachments_for`):
    without it, a message with attachments reads their metadata itself; and `zone`
    (`core.rendering.current_zone()`), read once.
    """
    deleted = row["deleted_at"] is not None
    sender_id = str(row["sender_id"])
    found: list[MediaMetadata] = []
    attachment_ids = row["attachment_ids"]
    if not deleted and attachment_ids:
        metadata = attachments_for_ids([attachment_ids]) if attachments is None else attachments
        found = attachments_of(attachment_ids, metadata)
    client_message_id = row["client_message_id"]
    read_at = row["read_at"]
    return {
        "id": str(row["id"]),
        "sender_id": sender_id,
        "recipient_id": str(row["recipient_id"]),
        "encrypted_content": None if deleted else b64(row["encrypted_content"]),
        "encrypted_session_key": None if deleted else b64(row["encrypted_session_key"]),
        "sender_encrypted_session_key": b64(row["sender_encrypted_session_key"])
        if not deleted and sender_id == str(viewer_id)
        else None,
        "crypto_version": str(row["crypto_version"]),
        "encryption_algorithm": str(row["encryption_algorithm"]),
        "client_message_id": None if client_message_id is None else str(client_message_id),
        "attachments": found,
        "is_read": read_at is not None,
        "read_at": iso(read_at, zone),
        "is_deleted": deleted,
        "created_at": iso(row["created_at"], zone),
    }


def message_payload(
    message: Message,
    *,
    viewer_id: UUID | str,
    attachments: dict[UUID, MediaMetadata] | None = None,
) -> MessagePayload:
    """`<message>` for one viewer from a model: `message_row_payload` of its row."""
    return message_row_payload(message_row(message), viewer_id=viewer_id, attachments=attachments)


def message_sent_payload(message: Message, *, created: bool, viewer_id: UUID | str) -> MessageSentPayload:
    """`message.sent`, the sending socket's answer to `message.send`."""
    return {**message_payload(message, viewer_id=viewer_id), "created": created}


def message_row_payloads(rows: Sequence[MessageRow], *, viewer_id: UUID | str) -> list[MessagePayload]:
    """A page of `<message>`s from its rows (a history page): one attachments read for the page,
    none when no message on it has any."""
    attachments = attachments_for_ids(row["attachment_ids"] for row in rows)
    viewer, zone = str(viewer_id), current_zone()
    return [message_row_payload(row, viewer_id=viewer, attachments=attachments, zone=zone) for row in rows]


def read_payload(message: Message) -> ReadPayload:
    """`message.read`: which message, between whom, and when it was read."""
    return {
        "id": str(message.id),
        "sender_id": str(message.sender_id),
        "recipient_id": str(message.recipient_id),
        "read_at": iso(message.read_at),
    }


def deleted_payload(
    message: Message, *, scope: Literal["everyone", "me"], deleted_at: datetime
) -> DeletedPayload:
    """`message.deleted`: `scope` is "everyone" (a tombstone now) or "me" (hidden on this account)."""
    return {
        "id": str(message.id),
        "sender_id": str(message.sender_id),
        "recipient_id": str(message.recipient_id),
        "scope": scope,
        "deleted_at": iso(deleted_at),
    }


def sync_items(entries: list[SyncEntry], *, viewer_id: UUID | str) -> list[SyncItem]:
    """/sync's items in the socket events' shapes; one attachments read for the whole page."""
    attachments = attachments_for(entry.obj for entry in entries if entry.type == MESSAGE_NEW)
    items: list[SyncItem] = []
    for entry in entries:
        data: Any
        if entry.type == MESSAGE_NEW:
            data = message_payload(entry.obj, viewer_id=viewer_id, attachments=attachments)
        elif isinstance(entry.obj, MessageEvent):
            event = entry.obj
            if event.kind == MessageEvent.Kind.READ:
                data = read_payload(event.message)
            else:
                scope: Literal["everyone", "me"] = (
                    "everyone" if event.kind == MessageEvent.Kind.DELETED else "me"
                )
                data = deleted_payload(event.message, scope=scope, deleted_at=event.created_at)
        else:  # a group item, already in its event shape (groups.events)
            data = entry.obj["data"]
        items.append({"type": entry.type, "data": data})
    return items
