"""Reads of the relay and its access check. The realtime gateway calls `envelopes_pending`."""

from __future__ import annotations

from uuid import UUID

from django.db.models import Q

from core.ids import as_uuid_or_none
from relay.exceptions import NotYourQueue
from relay.models import Block
from relay.store import PendingCursor, RelayEnvelope, get_store

__all__ = [
    "PendingCursor",
    "RelayEnvelope",
    "block_between",
    "envelopes_pending",
    "envelopes_pending_count",
    "envelopes_pending_for_viewer",
]


def envelopes_pending(
    *, recipient_id: UUID | str, after: PendingCursor | None = None, limit: int | None = None
) -> list[RelayEnvelope]:
    """The recipient's unexpired envelopes, oldest first (never an expired one).

    `limit` None returns them all (up to RELAY_MAX_PENDING_PER_RECIPIENT of up to
    RELAY_MAX_PAYLOAD_BYTES each): callers that can, page with `limit` and `after`.
    Raises RelayUnavailable (503) when the store cannot be reached.
    """
    recipient = as_uuid_or_none(recipient_id)
    if recipient is None:
        return []
    return get_store().pending(recipient_id=recipient, after=after, limit=limit)


def envelopes_pending_count(*, recipient_id: UUID | str) -> int:
    """How many unexpired envelopes wait for the recipient (what the per-recipient cap counts)."""
    recipient = as_uuid_or_none(recipient_id)
    if recipient is None:
        return 0
    return get_store().count(recipient_id=recipient)


def envelopes_pending_for_viewer(
    *,
    viewer_id: UUID,
    user_id: UUID | str,
    after: PendingCursor | None = None,
    limit: int | None = None,
) -> list[RelayEnvelope]:
    """GET /relay/pending/{userId}: a queue is readable by its recipient only (403 otherwise,
    as docs/API.md says, for any other id, known or not: the answer tells nothing about it)."""
    if as_uuid_or_none(user_id) != viewer_id:
        raise NotYourQueue()
    return envelopes_pending(recipient_id=viewer_id, after=after, limit=limit)


def block_between(*, user_id: UUID, other_id: UUID) -> bool:
    """True when either user blocked the other (relay's replica of contacts' blocks: see the
    package docstring). One indexed query."""
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()
