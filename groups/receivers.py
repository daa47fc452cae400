"""Handlers for lower apps' signals, connected in GroupsConfig.ready()."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from accounts.events import user_deleted
from groups.services import groups_remove_deleted_user


def on_user_deleted(sender: Any, *, user_id: UUID, **kwargs: Any) -> None:
    """The deleted user leaves every group (ownership passes on; see the service)."""
    groups_remove_deleted_user(user_id=user_id)


def connect() -> None:
    user_deleted.connect(on_user_deleted, dispatch_uid="groups.on_user_deleted")
