"""Reads of accounts, and the public surface other apps use (ids in, small values out)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings

from accounts.models import IdentityKeys, OneTimePrekey, User
from accounts.tokens import decode_access_token
from messenger.core.exceptions import NotFound

SEARCH_MIN_LENGTH = 2


def get_active_user(*, user_id: UUID | str) -> User:
    """The active user with this id, or NotFound (unknown, inactive and deleted look alike)."""
    try:
        return User.objects.get(pk=user_id, is_active=True)
    except (User.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        # DjangoValidationError: a string that is no UUID (the field refuses it)
        raise NotFound("User not found.", code="user_not_found") from None


def active_user_exists(*, user_id: UUID | str) -> bool:
    try:
        return User.objects.filter(pk=user_id, is_active=True).exists()
    except (ValueError, TypeError, DjangoValidationError):
        return False


def active_users_by_id(*, user_ids: Iterable[UUID | str]) -> dict[UUID, User]:
    """One query; ids that are unknown or inactive are simply absent from the result."""
    return {user.pk: user for user in User.objects.filter(pk__in=list(user_ids), is_active=True)}


def user_from_access_token(*, token: str) -> User | None:
    """The active user an access JWT belongs to, or None if it is bad, expired or revoked.

    The WebSocket gateway authenticates with this, and accounts.authentication (REST) runs the
    same `decode_access_token` and the same active-user lookup: one rule set for both.
    """
    try:
        access = decode_access_token(token)
    except TokenError:
        return None
    return active_user_for_token_claim(user_id=access.get(api_settings.USER_ID_CLAIM))


def active_user_for_token_claim(*, user_id: object) -> User | None:
    if not user_id:
        return None
    try:
        return User.objects.filter(pk=user_id, is_active=True).first()
    except (ValueError, TypeError, DjangoValidationError):  # a signed claim that is no UUID
        return None


def _lower(value: str) -> str:
    return value.strip().lower()


def user_for_login(*, login: str) -> User | None:
    """The user (active or not) whose email or username is `login`, any case.

    `lower(col) = ...` is the expression of the unique indexes users_email_ci_unique and
    users_username_ci_unique, so this is one index probe.
    """
    login = _lower(login)
    if not login:
        return None
    if "@" in login:
        return User.objects.alias(email_ci=Lower("email")).filter(email_ci=login).first()
    return User.objects.alias(username_ci=Lower("username")).filter(username_ci=login).first()


def email_taken(*, email: str) -> bool:
    return User.objects.alias(email_ci=Lower("email")).filter(email_ci=_lower(email)).exists()


def username_taken(*, username: str) -> bool:
    return User.objects.alias(username_ci=Lower("username")).filter(username_ci=_lower(username)).exists()


def user_search(*, query: str) -> QuerySet[User]:
    """Active users whose username or full name starts with `query`, or whose email is `query`.

    Case-insensitive. On PostgreSQL the prefixes use the partial indexes users_username_prefix_idx
    and users_full_name_prefix_idx (`lower(col) text_pattern_ops WHERE is_active`), the email the
    unique `lower(email)` index: a BitmapOr of three index scans (see migration 0003).
    """
    term = _lower(query)
    condition = Q(username_ci__startswith=term) | Q(full_name_ci__startswith=term)
    if "@" in term:
        condition |= Q(email_ci=term)
    return (
        User.objects.alias(
            username_ci=Lower("username"), full_name_ci=Lower("full_name"), email_ci=Lower("email")
        )
        .filter(condition, is_active=True)
        .order_by("username")
    )


def identity_keys_for(*, user_id: UUID | str) -> IdentityKeys | None:
    return IdentityKeys.objects.filter(user_id=user_id).first()


def one_time_prekey_count(*, user_id: UUID | str) -> int:
    return OneTimePrekey.objects.filter(user_id=user_id).count()
