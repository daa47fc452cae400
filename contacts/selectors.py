"""Reads of contacts, and the blocking rules other apps ask about.

FOUNDATION STUB: the signatures are the contract messaging, groups and realtime code against;
the contacts issue (#4) replaces the bodies with real queries on its Contact model.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID


def is_blocked(*, actor_id: UUID | str, target_id: UUID | str) -> bool:
    """True when `target` has blocked `actor` (so `actor` may not message, add, invite or see
    the presence of `target`)."""
    return False


def blocked_by_any(*, actor_id: UUID | str, target_ids: Iterable[UUID | str]) -> set[UUID]:
    """The subset of `target_ids` who have blocked `actor` (one query; for group creation)."""
    return set()


def accepted_contact_ids(*, user_id: UUID | str) -> set[UUID]:
    """Ids of the user's accepted contacts (presence goes to these)."""
    return set()
