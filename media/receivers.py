"""Media's handlers for lower apps' signals, connected in MediaConfig.ready()."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from accounts.events import user_deleted
from media.services import media_delete_all_of_user


def on_user_deleted(sender: Any, *, user_id: UUID, **kwargs: Any) -> None:
    """Account deletion removes the user's uploads (docs/API.md) and the grants they held."""
    media_delete_all_of_user(user_id=user_id)


def connect() -> None:
    user_deleted.connect(on_user_deleted, dispatch_uid="media.on_user_deleted")
