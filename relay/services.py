"""Every write of the relay. The REST views and the realtime gateway call these.

See the relay package docstring for the rules (TTLs, caps, the overflow policy).
"""

from __future__ import annotations

import math
from uuid import UUID

from django.conf import settings

from accounts.selectors import active_user_exists
from messenger.core import metrics
from messenger.core.events import publish
from relay.events import RELAY_ACKED, RELAY_ENVELOPE, envelope_event_data
from relay.exceptions import (
    EnvelopeNotFound,
    InvalidPayload,
    InvalidTTL,
    RecipientNotFound,
    RelayPayloadTooLarge,
    RelayQueueFull,
)
from relay.selectors import as_uuid
from relay.store import QueueIsFull, RelayEnvelope, get_store, new_envelope_id


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
    (404), RelayQueueFull (429, with Retry-After) and RelayUnavailable (503); on each of them
    nothing was stored and nothing published.

    Not wrapped in a transaction of its own: the store's write is atomic by itself (one Lua
    script, or the database store's own transaction), and the Redis path then costs no
    BEGIN/COMMIT. Inside a caller's transaction the event waits for the caller's commit.
    """
    ttl = _checked_ttl(ttl_seconds)
    payload = _checked_payload(payload)
    recipient = as_uuid(recipient_id)
    if recipient is None or not active_user_exists(user_id=recipient):
        raise RecipientNotFound()
    try:
        envelope = get_store().queue(
            envelope_id=new_envelope_id(),
            sender_id=sender_id,
            recipient_id=recipient,
            payload=payload,
            ttl_seconds=ttl,
            max_pending=settings.RELAY_MAX_PENDING_PER_RECIPIENT,
        )
    except QueueIsFull as full:
        metrics.RELAY_REFUSED.inc()
        raise RelayQueueFull(retry_after=_retry_after(full.seconds_until_a_slot_frees)) from None
    publish([recipient], RELAY_ENVELOPE, envelope_event_data(envelope))
    # One more store read (a Redis ZCOUNT, or a COUNT): how close this queue is to its cap.
    metrics.relay_queued(depth=get_store().count(recipient_id=recipient))
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


def envelopes_purge_expired() -> int:
    """The periodic task: index entries (Redis) and rows (database) of expired envelopes go."""
    return get_store().purge_expired()
