"""Input and output shapes of messaging (docs/API.md, Messages). They validate; they never save."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import MAY_SEE_ACTIVITY, PublicUserSerializer, public_user_payload
from core.fields import Base64BytesField, StrictRegexField, StrictUUIDField
from core.rendering import b64, iso
from media.selectors import attachments_metadata
from messaging.models import Conversation, Message, MessageEvent
from messaging.selectors import SyncEntry

MAX_ATTACHMENTS = 10


def _max_ciphertext() -> int:
    return settings.MESSAGE_MAX_CIPHERTEXT_BYTES


def _max_key() -> int:
    return settings.MESSAGE_MAX_KEY_BYTES


class MessageSendSerializer(serializers.Serializer):
    """The send body (REST and the `message.send` frame)."""

    recipient_id = StrictUUIDField()
    encrypted_content = Base64BytesField(max_bytes=_max_ciphertext)
    encrypted_session_key = Base64BytesField(max_bytes=_max_key)
    sender_encrypted_session_key = Base64BytesField(
        max_bytes=_max_key, required=False, allow_null=True, default=None
    )
    crypto_version = StrictRegexField(r"^[A-Za-z0-9._:+-]{1,32}\Z", max_length=32, trim_whitespace=False)
    encryption_algorithm = StrictRegexField(
        r"^[A-Za-z0-9._:+/-]{1,64}\Z", max_length=64, trim_whitespace=False
    )
    client_message_id = StrictUUIDField(required=False, allow_null=True, default=None)
    attachment_ids = serializers.ListField(
        child=StrictUUIDField(), required=False, default=list, max_length=MAX_ATTACHMENTS
    )

    def validate_attachment_ids(self, value: list[UUID]) -> list[UUID]:
        return list(dict.fromkeys(value))  # a repeated id is one attachment


class AttachmentSerializer(serializers.Serializer):
    """Documentation of `<media>` metadata as media renders it (no download_url)."""

    id = serializers.UUIDField()
    file_name = serializers.CharField()
    file_type = serializers.CharField()
    file_size = serializers.IntegerField()
    sha256 = serializers.CharField()
    thumbnail_url = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


def attachments_for(messages: Iterable[Message]) -> dict[UUID, dict[str, Any]]:
    """Metadata for every attachment of `messages`: one call to media (none if there are none)."""
    ids = {UUID(str(media_id)) for message in messages for media_id in (message.attachment_ids or [])}
    return attachments_metadata(media_ids=sorted(ids)) if ids else {}


# The schema of `<message>`. What the API writes is `message_payload`'s plain dict (a DRF
# serializer per message was 70 % of a history page's CPU), and this class renders through it too,
# so the schema and the bodies describe one shape.
class MessageSerializer(serializers.Serializer):
    """`<message>` as one participant (`context["viewer_id"]`) sees it.

    A message deleted for everyone renders as a tombstone: `is_deleted: true`, no ciphertext,
    no keys, no attachments. The sender's own wrapped key goes only to the sender's devices.
    """

    id = serializers.UUIDField()
    sender_id = serializers.UUIDField()
    recipient_id = serializers.UUIDField()
    encrypted_content = Base64BytesField(allow_null=True)
    encrypted_session_key = Base64BytesField(allow_null=True)
    sender_encrypted_session_key = Base64BytesField(allow_null=True)
    crypto_version = serializers.CharField()
    encryption_algorithm = serializers.CharField()
    client_message_id = serializers.UUIDField(allow_null=True)
    attachments = serializers.SerializerMethodField()
    is_read = serializers.BooleanField()
    read_at = serializers.DateTimeField(allow_null=True)
    is_deleted = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(AttachmentSerializer(many=True))
    def get_attachments(self, message: Message) -> list[dict[str, Any]]:
        return self.to_representation(message)["attachments"]

    def to_representation(self, message: Message) -> dict[str, Any]:
        return message_payload(
            message, viewer_id=self.context.get("viewer_id", ""), attachments=self.context.get("attachments")
        )


def message_payload(
    message: Message,
    *,
    viewer_id: UUID | str,
    attachments: dict[UUID, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`<message>` for one viewer: the REST body, the `message.new` event and the sync item.

    Pass `attachments` (from `attachments_for`) when rendering many messages: without it, a
    message with attachments reads their metadata itself.
    """
    deleted = message.deleted_at is not None
    own = str(viewer_id) == str(message.sender_id)
    found: list[dict[str, Any]] = []
    if not deleted and message.attachment_ids:
        metadata = attachments_for([message]) if attachments is None else attachments
        found = [
            item
            for item in (metadata.get(UUID(str(media_id))) for media_id in message.attachment_ids)
            if item is not None
        ]
    client_message_id = message.client_message_id
    return {
        "id": str(message.id),
        "sender_id": str(message.sender_id),
        "recipient_id": str(message.recipient_id),
        "encrypted_content": None if deleted else b64(message.encrypted_content),
        "encrypted_session_key": None if deleted else b64(message.encrypted_session_key),
        "sender_encrypted_session_key": b64(message.sender_encrypted_session_key)
        if own and not deleted
        else None,
        "crypto_version": str(message.crypto_version),
        "encryption_algorithm": str(message.encryption_algorithm),
        "client_message_id": None if client_message_id is None else str(client_message_id),
        "attachments": found,
        "is_read": message.read_at is not None,
        "read_at": iso(message.read_at),
        "is_deleted": deleted,
        "created_at": iso(message.created_at),
    }


def render_messages(messages: list[Message], *, viewer_id: UUID | str) -> list[dict[str, Any]]:
    attachments = attachments_for(messages)
    return [message_payload(message, viewer_id=viewer_id, attachments=attachments) for message in messages]


def read_payload(message: Message) -> dict[str, Any]:
    """`message.read`: which message, between whom, and when it was read."""
    return {
        "id": str(message.id),
        "sender_id": str(message.sender_id),
        "recipient_id": str(message.recipient_id),
        "read_at": iso(message.read_at),
    }


def deleted_payload(message: Message, *, scope: str, deleted_at: datetime) -> dict[str, Any]:
    """`message.deleted`: `scope` is "everyone" (a tombstone now) or "me" (hidden on this account)."""
    return {
        "id": str(message.id),
        "sender_id": str(message.sender_id),
        "recipient_id": str(message.recipient_id),
        "scope": scope,
        "deleted_at": iso(deleted_at),
    }


class ReadEventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    sender_id = serializers.UUIDField()
    recipient_id = serializers.UUIDField()
    read_at = serializers.DateTimeField()


class DeletedEventSerializer(ReadEventSerializer):
    read_at = None
    scope = serializers.ChoiceField(choices=["everyone", "me"])
    deleted_at = serializers.DateTimeField()


class ConversationSerializer(serializers.Serializer):
    """`{user, last_message, unread_count}`; context: viewer_id, attachments, unread (peer -> n)."""

    user = PublicUserSerializer(source="peer")
    last_message = serializers.SerializerMethodField()
    unread_count = serializers.SerializerMethodField()

    @extend_schema_field(MessageSerializer)
    def get_last_message(self, conversation: Conversation) -> dict[str, Any]:
        return self.to_representation(conversation)["last_message"]

    def get_unread_count(self, conversation: Conversation) -> int:
        return self.context["unread"].get(conversation.peer_id, 0)

    def to_representation(self, conversation: Conversation) -> dict[str, Any]:
        # Plain dicts, as message_payload: no field objects per conversation.
        return {
            "user": public_user_payload(
                conversation.peer,
                may_see_activity=conversation.peer_id in self.context.get(MAY_SEE_ACTIVITY, ()),
            ),
            "last_message": message_payload(
                conversation.last_message,
                viewer_id=self.context["viewer_id"],
                attachments=self.context.get("attachments"),
            ),
            "unread_count": self.get_unread_count(conversation),
        }


class ConversationReadSerializer(serializers.Serializer):
    up_to_id = StrictUUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Mark read up to this message (default: all).",
    )


class ConversationReadResultSerializer(serializers.Serializer):
    read_count = serializers.IntegerField()
    read_ids = serializers.ListField(child=serializers.UUIDField())


class SyncItemSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["message.new", "message.read", "message.deleted", "group.message.new"],
        help_text="The same types and payloads as the WebSocket events.",
    )
    data = serializers.DictField(help_text="`<message>`, a read receipt, a deletion, or a group message.")


class SyncResponseSerializer(serializers.Serializer):
    items = SyncItemSerializer(many=True)
    next_since = serializers.CharField(help_text="Opaque token: pass it as `since` next time.")
    has_more = serializers.BooleanField(help_text="True when more items wait: call again at once.")


def render_sync_entries(entries: list[SyncEntry], *, viewer_id: UUID | str) -> list[dict[str, Any]]:
    """Sync items in the WebSocket events' shapes; one attachments call for the whole page."""
    attachments = attachments_for(entry.obj for entry in entries if entry.type == "message.new")
    items: list[dict[str, Any]] = []
    for entry in entries:
        if entry.type == "message.new":
            data = message_payload(entry.obj, viewer_id=viewer_id, attachments=attachments)
        elif isinstance(entry.obj, MessageEvent):
            event = entry.obj
            if event.kind == MessageEvent.Kind.READ:
                data = read_payload(event.message)
            else:
                scope = "everyone" if event.kind == MessageEvent.Kind.DELETED else "me"
                data = deleted_payload(event.message, scope=scope, deleted_at=event.created_at)
        else:  # a group item, already in its event shape
            data = entry.obj["data"]
        items.append({"type": entry.type, "data": data})
    return items
