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

from typing import Any

from relay.serializers import RelayEnvelopeSerializer
from relay.store import RelayEnvelope

RELAY_ENVELOPE = "relay.envelope"
# `{"id"}`, to every device of the recipient when an envelope is acked.
RELAY_ACKED = "relay.acked"


def envelope_event_data(envelope: RelayEnvelope) -> dict[str, Any]:
    return dict(RelayEnvelopeSerializer(envelope).data)
