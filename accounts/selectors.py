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
