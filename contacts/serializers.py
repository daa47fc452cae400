"""Input and output shapes of contacts and invitations (docs/API.md). They validate, never save."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import MAY_SEE_ACTIVITY, PublicUserSerializer
from contacts.models import Contact, Invitation
from core.fields import StrictUUIDField


class ContactSerializer(serializers.ModelSerializer):
    """A contact as one side sees it: the other user, and who asked (`direction`).

    Needs `context["viewer_id"]`: the same row reads `outgoing` for the requester and
    `incoming` for the addressee.
    """

    user = serializers.SerializerMethodField()
    direction = serializers.SerializerMethodField()
    blocked_by_me = serializers.SerializerMethodField()

    class Meta:
        model = Contact
        fields = ("id", "user", "status", "direction", "blocked_by_me", "created_at", "updated_at")
        read_only_fields = fields

    def _viewer_id(self) -> UUID:
        return UUID(str(self.context["viewer_id"]))

    @extend_schema_field(PublicUserSerializer)
    def get_user(self, contact: Contact) -> dict[str, Any]:
        other = contact.addressee if contact.requester_id == self._viewer_id() else contact.requester
        # last_seen only between accepted contacts (one row per pair: accepted means no block)
        status = self.context.get("status") or contact.status
        visible = {other.pk} if status == Contact.Status.ACCEPTED else set()
        return PublicUserSerializer(other, context={MAY_SEE_ACTIVITY: visible}).data

    @extend_schema_field(serializers.ChoiceField(choices=["outgoing", "incoming"]))
    def get_direction(self, contact: Contact) -> str:
        return "outgoing" if contact.requester_id == self._viewer_id() else "incoming"

    @extend_schema_field(serializers.BooleanField())
    def get_blocked_by_me(self, contact: Contact) -> bool:
        return contact.blocked_by_id is not None and contact.blocked_by_id == self._viewer_id()


class ContactPageSerializer(serializers.Serializer):
    """The cursor-paginated list shape (schema only)."""

    results = ContactSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


def contact_view(contact: Contact, *, viewer_id: Any, status: str | None = None) -> dict[str, Any]:
    """The `contact.request` / `contact.updated` event payload for one side."""
    data = dict(ContactSerializer(contact, context={"viewer_id": viewer_id, "status": status}).data)
    if status is not None:
        data["status"] = status
    return data


class ContactListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Contact.Status.choices, required=False)


class ContactCreateSerializer(serializers.Serializer):
    user_id = StrictUUIDField()


class ContactUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[Contact.Status.ACCEPTED, Contact.Status.BLOCKED])


class InvitationSendSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ("id", "invitee_email", "status", "expires_at", "created_at")
        read_only_fields = fields


class InvitationVerifySerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    inviter = PublicUserSerializer()
    invitee_email = serializers.EmailField()
    expires_at = serializers.DateTimeField()
