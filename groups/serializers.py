"""Input serializers (they validate, never save) and the output shapes of groups (docs/API.md)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import PublicUserSerializer
from core.fields import Base64BytesField, StrictCharField, StrictUUIDField
from groups.models import ASSIGNABLE_ROLE_CHOICES, GroupRole
from groups.selectors import group_message_data

ASSIGNABLE_ROLES = ASSIGNABLE_ROLE_CHOICES


class Base64Field(Base64BytesField):
    """core's base64 field (its OpenAPI schema is core.schema's extension)."""


MAX_ATTACHMENTS = 32


# --- Input ------------------------------------------------------------------------------------


class GroupCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(max_length=500, required=False, allow_blank=True, default="")
    member_ids = serializers.ListField(
        child=StrictUUIDField(),
        required=False,
        default=list,
        help_text="Initial members besides the creator. A user who blocked you is refused (400 naming them).",
    )

    def validate_member_ids(self, value: list[UUID]) -> list[UUID]:
        if len(value) > settings.GROUP_MAX_MEMBERS:
            raise serializers.ValidationError(
                f"At most {settings.GROUP_MAX_MEMBERS - 1} members besides you.", code="too_many_members"
            )
        return value


class GroupUpdateSerializer(serializers.Serializer):
    request_schema = {"minProperties": 1}  # `{}` is refused below; the OpenAPI schema says so
    name = StrictCharField(max_length=100, required=False)
    description = StrictCharField(max_length=500, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give `name` or `description`.", code="empty_update")
        return attrs


class MemberAddSerializer(serializers.Serializer):
    user_id = StrictUUIDField()
    role = serializers.ChoiceField(
        choices=ASSIGNABLE_ROLES,
        default=GroupRole.MEMBER.value,
        help_text="`admin` only when the caller is the owner.",
    )


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ASSIGNABLE_ROLES)


class OwnershipTransferSerializer(serializers.Serializer):
    user_id = StrictUUIDField(help_text="A current member; they become owner, you become admin.")


class WrappedKeysField(serializers.DictField):
    """{user_id: base64 wrapped key}: keys must be UUIDs, values base64 within the key limit."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=Base64Field(max_bytes=lambda: settings.MESSAGE_MAX_KEY_BYTES), **kwargs)

    def to_internal_value(self, data: Any) -> dict[UUID, bytes]:
        if isinstance(data, dict) and len(data) > settings.GROUP_MAX_MEMBERS:
            raise serializers.ValidationError(f"At most {settings.GROUP_MAX_MEMBERS} keys.")
        if isinstance(data, dict):
            bad = [key for key in data if not _is_uuid(key)]
            if bad:
                raise serializers.ValidationError(
                    f"Keys must be user ids (UUIDs): {', '.join(map(str, bad))}."
                )
        value = super().to_internal_value(data)
        if not value:
            raise serializers.ValidationError("At least one key: one per current member.")
        return {UUID(str(key)): wrapped for key, wrapped in value.items()}


def _is_uuid(value: Any) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


class GroupMessageSendSerializer(serializers.Serializer):
    encrypted_content = Base64Field(max_bytes=lambda: settings.MESSAGE_MAX_CIPHERTEXT_BYTES)
    encrypted_session_keys = WrappedKeysField(
        help_text="One wrapped session key per current member, the sender included: "
        "{user_id: base64}. A key for a non-member, or a member without one: 400 naming them."
    )
    crypto_version = StrictCharField(max_length=32)
    encryption_algorithm = StrictCharField(max_length=64)
    client_message_id = StrictUUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Idempotency: a repeat returns 200 and the first.",
    )
    attachment_ids = serializers.ListField(
        child=StrictUUIDField(), required=False, default=list, max_length=MAX_ATTACHMENTS
    )


# --- Output -----------------------------------------------------------------------------------


class MemberSerializer(serializers.Serializer):
    user = PublicUserSerializer(read_only=True)
    role = serializers.ChoiceField(choices=GroupRole.choices, read_only=True)
    joined_at = serializers.DateTimeField(read_only=True)


class GroupBaseSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    creator_id = serializers.UUIDField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    my_role = serializers.ChoiceField(choices=GroupRole.choices, read_only=True)


class GroupSerializer(GroupBaseSerializer):
    """`<group>`: the instance carries `my_role` and `member_list` (set by the view)."""

    members = MemberSerializer(many=True, read_only=True, source="member_list")


class GroupListItemSerializer(GroupBaseSerializer):
    """One entry of `GET /groups`: `<group>` without the member list, with `member_count`."""

    member_count = serializers.IntegerField(read_only=True)


@extend_schema_field(OpenApiTypes.OBJECT)
class AttachmentField(serializers.DictField):
    pass


class GroupMessageSerializer(serializers.Serializer):
    """`<group message>` as the caller sees it: `encrypted_session_key` is their own key only.

    Rendering is `groups.selectors.group_message_data`, shared with /sync and the socket; the
    instance carries `my_key` and the context `attachments_by_id`.
    """

    id = serializers.UUIDField(read_only=True)
    group_id = serializers.UUIDField(read_only=True)
    sender_id = serializers.UUIDField(read_only=True, allow_null=True)
    encrypted_content = serializers.CharField(read_only=True, help_text="base64")
    encrypted_session_key = serializers.CharField(
        read_only=True, allow_null=True, help_text="base64: the caller's own wrapped key"
    )
    crypto_version = serializers.CharField(read_only=True)
    encryption_algorithm = serializers.CharField(read_only=True)
    client_message_id = serializers.UUIDField(read_only=True, allow_null=True)
    attachments = serializers.ListField(
        child=AttachmentField(), read_only=True, help_text="`<media>` metadata"
    )
    created_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return group_message_data(
            instance,
            encrypted_session_key=getattr(instance, "my_key", None),
            attachments_by_id=self.context.get("attachments_by_id", {}),
        )
