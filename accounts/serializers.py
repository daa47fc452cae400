"""Output shapes of a user (API.md): `<user>` for everyone, `<me>` for the user themself."""

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import User, username_validator

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


# --- Input serializers (validate only; services write) -------------------------------------------


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    username = serializers.CharField(min_length=3, max_length=32, validators=[username_validator])
    password = serializers.CharField(max_length=128, write_only=True, style={"input_type": "password"})
    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    public_key = serializers.CharField(max_length=8192, required=False, allow_blank=True, default="")
    invitation_token = serializers.CharField(
        max_length=128, required=False, allow_blank=True, allow_null=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Django's validators, including "too similar to the username / email".
        candidate = User(
            email=attrs["email"], username=attrs["username"], full_name=attrs.get("full_name", "")
        )
        try:
            validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class LoginSerializer(serializers.Serializer):
    login = serializers.CharField(max_length=254, help_text="Email or username (any case).")
    password = serializers.CharField(max_length=128, write_only=True, style={"input_type": "password"})


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class VerifyEmailSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)


class PasswordConfirmSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, write_only=True, style={"input_type": "password"})


class ProfileUpdateSerializer(serializers.Serializer):
    """PUT and PATCH: the fields given are replaced, the others kept (the seed's client sends only
    what changed, also with PUT)."""

    full_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    bio = serializers.CharField(max_length=500, required=False, allow_blank=True)
    public_key = serializers.CharField(max_length=8192, required=False, allow_blank=True)

    def validate_avatar_url(self, value: str) -> str:
        if value and not value.lower().startswith(("https://", "http://")):
            raise serializers.ValidationError("Only http and https URLs.")
        return value


# --- Output serializers for the schema ----------------------------------------------------------


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class SessionSerializer(TokenPairSerializer):
    user = MeSerializer()
