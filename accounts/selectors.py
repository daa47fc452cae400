"""Reads of accounts, and the public surface other apps use (ids in, small values out)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from accounts.models import User
from messenger.core.exceptions import NotFound


def get_active_user(*, user_id: UUID | str) -> User:
    """The active user with this id, or NotFound (unknown, inactive and deleted look alike)."""
    try:
        return User.objects.get(pk=user_id, is_active=True)
    except (User.DoesNotExist, ValueError, TypeError):
        raise NotFound("User not found.", code="user_not_found") from None


def active_user_exists(*, user_id: UUID | str) -> bool:
    try:
        return User.objects.filter(pk=user_id, is_active=True).exists()
    except (ValueError, TypeError):
        return False


def active_users_by_id(*, user_ids: Iterable[UUID | str]) -> dict[UUID, User]:
    """One query; ids that are unknown or inactive are simply absent from the result."""
    return {user.pk: user for user in User.objects.filter(pk__in=list(user_ids), is_active=True)}


def user_from_access_token(*, token: str) -> User | None:
    """The active user an access JWT belongs to, or None if it is bad, expired or revoked.

    The WebSocket gateway authenticates with this, so REST and sockets apply the same rules.
    (Foundation version: signature, expiry and is_active. The accounts issue adds the jti
    denylist that logout writes.)
    """
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import AccessToken

    try:
        access = AccessToken(token)
    except TokenError:
        return None
    user_id = access.get("user_id")
    if user_id is None:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()
