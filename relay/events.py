"""The event relay publishes (through core.events, after commit).

`relay.envelope`, to every device of the recipient, on each queued envelope. Its data is exactly
one item of GET /relay/pending/{userId}: {"id", "sender_id", "recipient_id", "payload" (standard
base64), "created_at", "expires_at"}. The realtime gateway pushes the same shape for what is
pending when a socket connects (relay/__init__.py, "The gateway's side").

`relay.acked` `{"id"}`, to every device of the recipient when one of them acknowledges an
envelope: the others drop it (and the gateway stops pushing it to them); the acking one knows
its ack took.
"""

from __future__ import annotations

from typing import TypedDict, cast
from uuid import UUID

from core.rendering import b64, iso
from relay.store import RelayEnvelope

RELAY_ENVELOPE = "relay.envelope"
RELAY_ACKED = "relay.acked"


class RelayQueuedPayload(TypedDict):
    """What POST /relay/queue answers: the envelope without its payload."""

    id: str
    sender_id: str
    recipient_id: str
    created_at: str
    expires_at: str


class RelayEnvelopePayload(RelayQueuedPayload):
    """One item of GET /relay/pending/{userId}, and the `relay.envelope` event's data."""

    payload: str  # standard base64 of the ciphertext


class RelayAckedPayload(TypedDict):
    id: str


def queued_payload(envelope: RelayEnvelope) -> RelayQueuedPayload:
    return {
        "id": str(envelope.id),
        "sender_id": str(envelope.sender_id),
        "recipient_id": str(envelope.recipient_id),
        "created_at": iso(envelope.created_at),
        "expires_at": iso(envelope.expires_at),
    }


def envelope_event_data(envelope: RelayEnvelope) -> RelayEnvelopePayload:
    return {**queued_payload(envelope), "payload": cast(str, b64(envelope.payload))}


def acked_event_data(envelope_id: UUID) -> RelayAckedPayload:
    return {"id": str(envelope_id)}
