"""The event relay publishes (through messenger.core.events, after commit).

`relay.envelope`, to every device of the recipient, on each queued envelope. Its data is exactly
one item of GET /relay/pending/{userId}: {"id", "sender_id", "recipient_id", "payload" (standard
base64), "created_at", "expires_at"}. The realtime gateway pushes the same shape for what is
pending when a socket connects (RELAY_CONTRACT.md).
"""

from __future__ import annotations

from typing import Any

from relay.serializers import RelayEnvelopeSerializer
from relay.store import RelayEnvelope

RELAY_ENVELOPE = "relay.envelope"


def envelope_event_data(envelope: RelayEnvelope) -> dict[str, Any]:
    return dict(RelayEnvelopeSerializer(envelope).data)
