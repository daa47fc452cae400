"""Output shapes of a user (docs/API.md): `<user>` for everyone, `<me>` for the user themself."""

import re
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User, username_validator, validate_unreserved_email, validate_unreserved_username
from core.fields import Base64BytesField, StrictCharField, StrictIntegerField
from core.rendering import iso

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


# Context key of PublicUserSerializer: the ids of the users whose activity (`last_seen`) the
# viewer may see. accounts.selectors.activity_visible_ids computes it from rows annotated with
# accounts.selectors.may_see_activity; a caller that knows the answer otherwise (contacts: an
# accepted row) passes its own set.
MAY_SEE_ACTIVITY = "may_see_activity"


class PublicUserSerializer(serializers.ModelSerializer):
    """`<user>`: what any authenticated user may see of another. Other apps embed it.

    `last_seen` follows the presence rule: the user themself and their accepted contacts (no block
    either way) see it; everyone else gets null, exactly as for a user never seen online. Only the
    ids in `context["may_see_activity"]` are shown: a caller that passes nothing shows nobody's
    (fail closed), which is what an event sent to many viewers at once must do."""

    # An http(s) URL or "" (none set): a URLField would tell the schema `format: uri`, which ""
    # is not.
    avatar_url = serializers.CharField(read_only=True)
    last_seen = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the user was last online; null unless you are the user or their accepted "
        "contact (and no block stands between you), and for someone never seen.",
    )

    class Meta:
        model = User
        fields = PUBLIC_USER_FIELDS
        read_only_fields = PUBLIC_USER_FIELDS

    def to_representation(self, instance: User) -> dict[str, Any]:
        return public_user_payload(
            instance, may_see_activity=instance.pk in self.context.get(MAY_SEE_ACTIVITY, ())
        )


def public_user_payload(user: User, *, may_see_activity: bool) -> dict[str, Any]:
    """`<user>` as PublicUserSerializer documents it, built as a plain dict (the fields' own
    to_representation per user was most of a list's rendering): the same keys, order and text."""
    return {
        "id": str(user.pk),
        "username": user.username,
        "full_name": user.full_name,
        "avatar_url": user.avatar_url,
        "bio": user.bio,
        "last_seen": iso(user.last_seen) if may_see_activity else None,
        "public_key": user.public_key,
        "is_verified": bool(user.is_verified),
    }


class UserSearchPageSerializer(serializers.Serializer):
    """The paginated search shape (schema only)."""

    results = PublicUserSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class MeSerializer(serializers.ModelSerializer):
    """`<me>`: `<user>` plus email, role and date_joined. The user themself: `last_seen` shown."""

    avatar_url = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = (*PUBLIC_USER_FIELDS, "email", "role", "date_joined")
        read_only_fields = fields


# --- Input serializers (validate only; services write) -------------------------------------------


# What a JSON schema can state of Django's password validators (AUTH_PASSWORD_VALIDATORS): the
# minimum length (MinimumLengthValidator's default) and "not entirely numeric". "Not too common"
# and "not too similar to the username or email" it cannot; API.md and the field's text say so.
PASSWORD_MIN_LENGTH = 8


class NewPasswordField(StrictCharField):
    """A new password. Django's validators (RegisterSerializer.validate) decide; the length and
    the "not all digits" rule are also field rules here so that the OpenAPI schema states them
    (`minLength`, `maxLength`, `pattern`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_length", PASSWORD_MIN_LENGTH)
        kwargs.setdefault("max_length", 128)
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("style", {"input_type": "password"})
        kwargs.setdefault(
            "help_text",
            f"At least {PASSWORD_MIN_LENGTH} characters, not all digits, not a common password, not "
            "too similar to the username or email.",
        )
        super().__init__(**kwargs)
        self.validators.append(
            # At least one character that is not a digit, and (as every CharField) no NUL.
            RegexValidator(
                r"^[^\x00]*[^0-9\x00][^\x00]*$",
                "This password is entirely numeric.",
                code="password_entirely_numeric",
            )
        )


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, validators=[validate_unreserved_email])
    username = StrictCharField(
        min_length=3, max_length=32, validators=[username_validator, validate_unreserved_username]
    )
    password = NewPasswordField()
    full_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")
    public_key = StrictCharField(max_length=8192, required=False, allow_blank=True, default="")
    invitation_token = StrictCharField(max_length=128, required=False, allow_blank=True, allow_null=True)

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
    login = StrictCharField(max_length=254, help_text="Email or username (any case).")
    password = StrictCharField(max_length=128, write_only=True, style={"input_type": "password"})


class RefreshInputSerializer(serializers.Serializer):
    refresh = StrictCharField(max_length=4096)


class VerifyEmailSerializer(serializers.Serializer):
    token = StrictCharField(max_length=512)


class PasswordConfirmSerializer(serializers.Serializer):
    password = StrictCharField(max_length=128, write_only=True, style={"input_type": "password"})


# An http(s) URL the way the OpenAPI schema can say it and the server checks it, the same pattern
# (Django's URLValidator, which this replaces, has rules no JSON schema pattern reproduces, so a
# schema-valid `format: uri` was refused): scheme, an ASCII host name or address, an optional
# port, then any printable ASCII. "" clears the avatar (the schema's other `oneOf` branch).
AVATAR_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?(?:[/?#][!-~]*)?$"
)


@extend_schema_field({"type": "string", "maxLength": 500, "pattern": AVATAR_URL_PATTERN})
class AvatarURLField(StrictCharField):
    pass


class ProfileUpdateSerializer(serializers.Serializer):
    """PUT and PATCH: the fields given are replaced, the others kept (the seed's client sends only
    what changed, also with PUT)."""

    full_name = StrictCharField(max_length=150, required=False, allow_blank=True)
    avatar_url = AvatarURLField(max_length=500, required=False, allow_blank=True, trim_whitespace=False)
    bio = StrictCharField(max_length=500, required=False, allow_blank=True)
    public_key = StrictCharField(max_length=8192, required=False, allow_blank=True)

    def validate_avatar_url(self, value: str) -> str:
        if value and not re.fullmatch(AVATAR_URL_PATTERN, value):
            raise serializers.ValidationError("Only http and https URLs (ASCII host, no spaces).")
        return value


# --- Output serializers for the schema ----------------------------------------------------------


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class SessionSerializer(TokenPairSerializer):
    user = MeSerializer()


# --- Prekey directory ----------------------------------------------------------------------------

# "Checking its shape": sizes of the key kinds clients here use. Public keys: X25519/Ed25519 raw
# (32 bytes), Signal's type-prefixed Curve25519 (33), uncompressed P-256 (65). Signatures: Ed25519
# and XEdDSA (64), DER-encoded ECDSA P-256 (70 to 72). Anything else is not a key we can hand out.
PUBLIC_KEY_SIZES = (32, 33, 65)
SIGNATURE_SIZES = (64, 70, 71, 72)
MAX_KEY_ID = 2**31 - 1


class KeyBytesField(Base64BytesField):
    """Key material as standard base64; `sizes` (input only) lists the decoded lengths allowed.
    Its OpenAPI schema (core.schema) is a pattern for exactly those sizes."""

    def __init__(self, *, sizes: tuple[int, ...] = (), **kwargs: Any) -> None:
        self.sizes = sizes
        super().__init__(max_bytes=max(sizes) if sizes else None, **kwargs)

    def to_internal_value(self, data: Any) -> bytes:
        value = super().to_internal_value(data)
        if self.sizes and len(value) not in self.sizes:
            sizes = ", ".join(str(size) for size in self.sizes)
            raise serializers.ValidationError(f"Must decode to {sizes} bytes, not {len(value)}.")
        return value


class SignedPrekeySerializer(serializers.Serializer):
    key_id = StrictIntegerField(min_value=0, max_value=MAX_KEY_ID)
    public_key = KeyBytesField(sizes=PUBLIC_KEY_SIZES)
    signature = KeyBytesField(sizes=SIGNATURE_SIZES)


class OneTimePrekeySerializer(serializers.Serializer):
    key_id = StrictIntegerField(min_value=0, max_value=MAX_KEY_ID)
    public_key = KeyBytesField(sizes=PUBLIC_KEY_SIZES)


class KeysUploadSerializer(serializers.Serializer):
    """PUT /keys. The first upload needs identity_key and signed_prekey; later ones may send only
    what changes (typically more one-time prekeys)."""

    # `validate` below, as the OpenAPI schema states it (core.schema).
    request_schema = {
        "anyOf": [
            {"required": ["identity_key"]},
            {"required": ["signed_prekey"]},
            {"required": ["one_time_prekeys"], "properties": {"one_time_prekeys": {"minItems": 1}}},
        ]
    }

    identity_key = KeyBytesField(sizes=PUBLIC_KEY_SIZES, required=False)
    signed_prekey = SignedPrekeySerializer(required=False)
    one_time_prekeys = OneTimePrekeySerializer(many=True, required=False, default=list)

    def validate_one_time_prekeys(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cap = settings.ACCOUNTS_MAX_ONE_TIME_PREKEYS
        if len(value) > cap:
            raise serializers.ValidationError(f"At most {cap} one-time prekeys per upload.")
        ids = [item["key_id"] for item in value]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("key_id values must be unique.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (
            not attrs.get("identity_key")
            and not attrs.get("signed_prekey")
            and not attrs.get("one_time_prekeys")
        ):
            raise serializers.ValidationError("Send identity_key, signed_prekey or one_time_prekeys.")
        return attrs


class PrekeyCountSerializer(serializers.Serializer):
    one_time_prekeys = serializers.IntegerField()


class _SignedPrekeyOut(serializers.Serializer):
    key_id = serializers.IntegerField()
    public_key = KeyBytesField()
    signature = KeyBytesField()


class _OneTimePrekeyOut(serializers.Serializer):
    key_id = serializers.IntegerField()
    public_key = KeyBytesField()


class PrekeyBundleSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    identity_key = KeyBytesField()
    signed_prekey = _SignedPrekeyOut()
    one_time_prekey = _OneTimePrekeyOut(allow_null=True)


class KeyBackupSerializer(serializers.Serializer):
    """PUT /keys/backup in, and GET's body out (with `updated_at`). `blob` is what the client
    encrypted under its passphrase-derived key; `kdf` how it derived that key, as text the server
    never reads (a PHC string, or JSON: the client's choice); `version` the client's format of
    the blob. `kdf` is a string, not an object: its bound is then one `maxLength` the OpenAPI
    schema states exactly (an object's size in bytes it cannot)."""

    blob = Base64BytesField(max_bytes=lambda: settings.ACCOUNTS_KEY_BACKUP_MAX_BYTES)
    kdf = StrictCharField(
        max_length=1024, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    version = StrictIntegerField(min_value=1, max_value=MAX_KEY_ID)
    updated_at = serializers.DateTimeField(read_only=True)
