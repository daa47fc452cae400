"""Input and output shapes of contacts and invitations (docs/API.md). They validate, never save."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import PublicUserSerializer
from contacts.events import contact_payload
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

    # The body is contacts.events.contact_payload's plain dict (the `contact.request` and
    # `contact.updated` events carry the same); the methods below give the schema its types.
    def to_representation(self, contact: Contact) -> dict[str, Any]:
        return dict(contact_payload(contact, viewer_id=self.context["viewer_id"]))

    @extend_schema_field(PublicUserSerializer)
    def get_user(self, contact: Contact) -> dict[str, Any]:
        return self.to_representation(contact)["user"]

    @extend_schema_field(serializers.ChoiceField(choices=["outgoing", "incoming"]))
    def get_direction(self, contact: Contact) -> str:
        return self.to_representation(contact)["direction"]

    @extend_schema_field(serializers.BooleanField())
    def get_blocked_by_me(self, contact: Contact) -> bool:
        return self.to_representation(contact)["blocked_by_me"]


class ContactPageSerializer(serializers.Serializer):
    """The cursor-paginated list shape (schema only)."""

    results = ContactSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


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
