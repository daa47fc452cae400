"""Every write of the relay. The REST views and the realtime gateway call these.

See the relay package docstring for the rules (TTLs, caps, the overflow policy).
"""

from __future__ import annotations

import math
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from accounts.selectors import active_user_exists
from core import metrics
from core.events import publish
from relay.events import RELAY_ACKED, RELAY_ENVELOPE, envelope_event_data
from relay.exceptions import (
    EnvelopeNotFound,
    InvalidPayload,
    InvalidTTL,
    RecipientNotFound,
    RelayBlocked,
    RelayPayloadTooLarge,
    RelayQueueFull,
    RelaySenderShareFull,
)
from relay.models import Block
from relay.selectors import as_uuid, block_between
from relay.store import QueueIsFull, RelayEnvelope, get_store, new_envelope_id
from relay.tasks import drop_from_sender


def _checked_ttl(ttl_seconds: int | None) -> int:
    if ttl_seconds is None:
        return settings.RELAY_DEFAULT_TTL_SECONDS
    maximum = settings.RELAY_MAX_TTL_SECONDS
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 0 < ttl_seconds <= maximum:
        message = f"Must be a whole number of seconds greater than 0 and at most {maximum}."
        raise InvalidTTL(errors={"ttl_seconds": [message]})
    return ttl_seconds


def _checked_payload(payload: bytes) -> bytes:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise InvalidPayload(errors={"payload": ["Must be bytes."]})
    payload = bytes(payload)
    if not payload:
        raise InvalidPayload(errors={"payload": ["Must not be empty."]})
    limit = settings.RELAY_MAX_PAYLOAD_BYTES
    if len(payload) > limit:
        raise RelayPayloadTooLarge(f"The payload is larger than {limit} bytes.")
    return payload


def _retry_after(seconds_until_a_slot_frees: float) -> int:
    # A slot frees by itself when the oldest envelope expires, sooner if the recipient acks:
    # so never ask a sender to wait longer than the configured ceiling.
    ceiling = settings.RELAY_QUEUE_FULL_RETRY_AFTER_MAX_SECONDS
    return max(1, min(ceiling, math.ceil(seconds_until_a_slot_frees)))


def envelope_queue(
    *, sender_id: UUID, recipient_id: UUID | str, payload: bytes, ttl_seconds: int | None = None
) -> RelayEnvelope:
    """Queue an envelope for an active user (the sender themself included: device-to-device
    sync between one user's devices is what the relay is for) and publish `relay.envelope`
    to the recipient after commit.

    Raises InvalidTTL / InvalidPayload (400), RelayPayloadTooLarge (413), RecipientNotFound
    (404), RelayBlocked (403: a block either way), RelayQueueFull (429: the recipient's queue
    is at its cap) or RelaySenderShareFull (429: this sender holds its share of it, both with
    Retry-After) and RelayUnavailable (503); on each of them nothing was stored and nothing
    published.

    Queries on the common path: the recipient check and the block check (two indexed reads),
    then the store's one script (Redis) or transaction (database).

    Not wrapped in a transaction of its own: the store's write is atomic by itself (one Lua
    script, or the database store's own transaction), and the Redis path then costs no
    BEGIN/COMMIT. Inside a caller's transaction the event waits for the caller's commit.
    """
    ttl = _checked_ttl(ttl_seconds)
    payload = _checked_payload(payload)
    recipient = as_uuid(recipient_id)
    if recipient is None or not active_user_exists(user_id=recipient):
        raise RecipientNotFound()
    own_queue = recipient == sender_id
    if not own_queue and block_between(user_id=sender_id, other_id=recipient):
        raise RelayBlocked()
    try:
        queued = get_store().queue_counted(
            envelope_id=new_envelope_id(),
            sender_id=sender_id,
            recipient_id=recipient,
            payload=payload,
            ttl_seconds=ttl,
            max_pending=settings.RELAY_MAX_PENDING_PER_RECIPIENT,
            # No share in one's own queue (sync between one's devices): it keeps no one else out.
            max_per_sender=None if own_queue else settings.RELAY_MAX_PENDING_PER_SENDER,
        )
    except QueueIsFull as full:
        metrics.RELAY_REFUSED.inc()
        refusal = RelaySenderShareFull if full.sender_share else RelayQueueFull
        raise refusal(retry_after=_retry_after(full.seconds_until_a_slot_frees)) from None
    envelope = queued.envelope
    publish([recipient], RELAY_ENVELOPE, envelope_event_data(envelope))
    metrics.relay_queued(depth=queued.depth)  # how close this queue is to its cap
    return envelope


def envelope_ack(*, recipient_id: UUID | str, envelope_id: UUID | str) -> None:
    """The recipient acknowledges an envelope: it is removed, and every device of the recipient
    gets `relay.acked` (the others drop it and stop waiting for it; the acking one learns the
    ack took). Raises EnvelopeNotFound (404) for an unknown, expired, already acknowledged or
    someone else's envelope."""
    recipient, envelope = as_uuid(recipient_id), as_uuid(envelope_id)
    if recipient is None or envelope is None:
        raise EnvelopeNotFound()
    if not get_store().ack(recipient_id=recipient, envelope_id=envelope):
        raise EnvelopeNotFound()
    publish([recipient], RELAY_ACKED, {"id": str(envelope)})


def envelopes_drop_for_user(*, user_id: UUID | str) -> int:
    """Account deletion: the user's queue goes. Envelopes they sent stay in their recipients'
    queues until acknowledged or expired, as the messages they sent stay for their peers."""
    user = as_uuid(user_id)
    if user is None:
        return 0
    return get_store().drop_queue(recipient_id=user)


def envelopes_drop_from_sender(*, recipient_id: UUID | str, sender_id: UUID | str) -> int:
    """A block: the envelopes `sender` queued for `recipient` go, so blocking the accounts that
    filled one's queue frees it at once. The recipient's sockets stop pushing them at their next
    read of the queue (within REALTIME_RELAY_REPUSH_SECONDS)."""
    recipient, sender = as_uuid(recipient_id), as_uuid(sender_id)
    if recipient is None or sender is None:
        return 0
    return get_store().drop_from_sender(recipient_id=recipient, sender_id=sender)


def envelopes_purge_expired() -> int:
    """The periodic task: index entries (Redis) and rows (database) of expired envelopes go."""
    return get_store().purge_expired()


# --- the replica of blocks (contacts writes it; see the package docstring) -------------------


def block_record(*, blocker_id: UUID | str, blocked_id: UUID | str) -> None:
    """`blocker` blocked `blocked`: from now on neither may queue an envelope for the other,
    and what `blocked` had queued for `blocker` goes once the block commits. Idempotent.
    Contacts calls it inside the transaction that stores the block, so a block that rolls back
    leaves no row here (and drops nothing) and one that commits always has it. The drop runs as
    a task after commit: Redis cannot roll back with the database, and an outage is retried."""
    blocker, blocked = as_uuid(blocker_id), as_uuid(blocked_id)
    Block.objects.bulk_create([Block(blocker_id=blocker, blocked_id=blocked)], ignore_conflicts=True)
    transaction.on_commit(lambda: drop_from_sender.delay(str(blocker), str(blocked)), robust=True)


def block_forget(*, blocker_id: UUID | str, blocked_id: UUID | str) -> None:
    """`blocker` lifted their block of `blocked` (contacts' DELETE of the blocked contact)."""
    Block.objects.filter(blocker_id=as_uuid(blocker_id), blocked_id=as_uuid(blocked_id)).delete()


def blocks_forget_user(*, user_id: UUID | str) -> int:
    """Account deletion: every block the user held or was the object of goes (contacts drops its
    rows for the user in the same transaction)."""
    user = as_uuid(user_id)
    if user is None:
        return 0
    deleted, _ = Block.objects.filter(Q(blocker_id=user) | Q(blocked_id=user)).delete()
    return deleted
