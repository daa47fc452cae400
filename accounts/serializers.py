"""Output shapes of a user (API.md): `<user>` for everyone, `<me>` for the user themself."""

from rest_framework import serializers

from accounts.models import User

PUBLIC_USER_FIELDS = (
    "id",
    "username",
    "full_name",
    "avatar_url",
    "bio",
    "last_seen",
    "public_key",
    "is_verified",
)


class PublicUserSerializer(serializers.ModelSerializer):
    """`<user>`: what any authenticated user may see of another. Other apps embed it."""

    class Meta:
        model = User
        fields = PUBLIC_USER_FIELDS
        read_only_fields = PUBLIC_USER_FIELDS


class MeSerializer(serializers.ModelSerializer):
    """`<me>`: `<user>` plus email, role and date_joined."""

    class Meta:
        model = User
        fields = (*PUBLIC_USER_FIELDS, "email", "role", "date_joined")
        read_only_fields = fields
