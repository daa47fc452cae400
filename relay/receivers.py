"""The relay's handlers for accounts' signals, connected in RelayConfig.ready()."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction

from accounts.events import user_deleted
from relay.services import blocks_forget_user
from relay.tasks import drop_user_queue


def on_user_deleted(sender: Any, *, user_id: UUID, **kwargs: Any) -> None:
    """Account deletion drops the user's queue (docs/API.md), once the deletion has committed: Redis
    cannot roll back with the database, so a deletion that fails must not have emptied it.
    Through a task, so a Redis outage at that moment is retried rather than lost. The user's
    rows in the replica of blocks go inside the deletion's transaction (same database)."""
    blocks_forget_user(user_id=user_id)
    transaction.on_commit(lambda: drop_user_queue.delay(str(user_id)), robust=True)


def connect() -> None:
    user_deleted.connect(on_user_deleted, dispatch_uid="relay.on_user_deleted")
