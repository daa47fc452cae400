"""Accounts: the user (auth data and profile in one row; the seed's auth_db + user_profiles)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

username_validator = RegexValidator(
    r"^[A-Za-z0-9_.]{3,32}$", "3 to 32 characters: letters, digits, '_' and '.'.", code="invalid_username"
)

# Account deletion renames the row (accounts.services.user_delete) to a username with a '-', which
# username_validator never lets in, and an address under `.invalid` (RFC 2606: no mail is ever
# delivered there). Both shapes, and the older `deleted_...` one, are refused on every input path
# (registration, admin), so a deletion never collides with an account someone registered.
RESERVED_USERNAME_PREFIXES = ("deleted_", "deleted-")
RESERVED_EMAIL_TLD = "invalid"


def validate_unreserved_username(value: str) -> None:
    if value.strip().lower().startswith(RESERVED_USERNAME_PREFIXES):
        raise ValidationError("This username is reserved.", code="reserved_username")


def validate_unreserved_email(value: str) -> None:
    domain = value.strip().rsplit("@", 1)[-1].lower().rstrip(".")
    if domain.rsplit(".", 1)[-1] == RESERVED_EMAIL_TLD:
        raise ValidationError("Addresses under .invalid cannot be used.", code="reserved_email")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, username: str, password: str | None, **extra: Any) -> User:
        user = self.model(email=self.normalize_email(email), username=username, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, username: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, username, password, **extra)

    def create_superuser(self, email: str, username: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True, role=User.Role.ADMIN, is_verified=True)
        return self._create(email, username, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # Admin login accepts the email or the username, in any case.
        login = username or ""
        field = "email__iexact" if "@" in login else "username__iexact"
        return self.get(**{field: login})


class User(AbstractBaseUser, PermissionsMixin):
    class Role(models.TextChoices):
        USER = "user", "User"
        MODERATOR = "moderator", "Moderator"
        ADMIN = "admin", "Admin"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254)
    username = models.CharField(max_length=32, unique=True, validators=[username_validator])
    public_key = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_verified = models.BooleanField(default=False)
    is_staff = models.BooleanField(default=False, help_text="May log in to the admin site.")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    full_name = models.CharField(max_length=150, blank=True, default="")
    avatar_url = models.URLField(max_length=500, blank=True, default="")
    bio = models.CharField(max_length=500, blank=True, default="")
    last_seen = models.DateTimeField(null=True, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # A ban is a deactivation with a reason (admin action); deletion scrubs the row instead.
    banned_at = models.DateTimeField(null=True, blank=True)
    ban_reason = models.CharField(max_length=500, blank=True, default="")
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="users_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="users_username_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username


class DeletedUser(models.Model):
    """One row per deleted account (the seed's `deleted_users`): what remains is a keyed hash of
    the address, never the address itself, so abuse handling can recognise a returning address
    without the server keeping it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    former_user_id = models.UUIDField(unique=True)
    email_hash = models.CharField(max_length=64, db_index=True)
    reason = models.CharField(max_length=500, blank=True, default="")
    deleted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "deleted_users"

    def __str__(self) -> str:
        return f"deleted {self.former_user_id}"


class IdentityKeys(models.Model):
    """The long-lived half of a user's prekey bundle (Signal/X3DH): the identity key and the
    current signed prekey. One per user: the API has no device dimension."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="identity_keys"
    )
    identity_key = models.BinaryField()
    signed_prekey_id = models.PositiveIntegerField()
    signed_prekey = models.BinaryField()
    signed_prekey_signature = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "identity_keys"

    def __str__(self) -> str:
        return f"keys of {self.user_id}"


class OneTimePrekey(models.Model):
    """A one-time prekey: handed out at most once, deleted in the same statement that claims it."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="one_time_prekeys")
    key_id = models.PositiveIntegerField()
    public_key = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "one_time_prekeys"
        constraints = [
            models.UniqueConstraint(fields=["user", "key_id"], name="one_time_prekeys_user_key_unique"),
        ]

    def __str__(self) -> str:
        return f"prekey {self.key_id} of {self.user_id}"


class KeyBackup(models.Model):
    """A user's passphrase-protected key backup (issue 18): what a second device restores the
    private keys from. The client encrypts its keys under a key derived from a passphrase that
    never leaves it; the server keeps the result as opaque bytes, for its owner only, and never
    shows it elsewhere (not in the admin, not in logs). One per user: a PUT replaces it."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="key_backup")
    blob = models.BinaryField()
    # How the client derives the key from the passphrase (algorithm, salt, costs; e.g. a PHC
    # string "$argon2id$v=19$m=65536,t=3,p=1$<salt>"), as the client wrote it: opaque to the
    # server, beside the blob so that a device reads the costs before it spends them.
    kdf = models.CharField(max_length=1024, blank=True, default="")
    version = models.PositiveIntegerField()  # the client's format of the blob
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "key_backups"

    def __str__(self) -> str:
        return f"key backup of {self.user_id}"
