"""Input and output shapes of the relay endpoints. They validate; they never write.

`RelayEnvelopeSerializer` is also the `relay.envelope` event payload (relay.events), so a socket
push and an item of GET /relay/pending/{userId} are the same JSON object.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from core.fields import Base64BytesField, StrictIntegerField, StrictUUIDField


def _max_payload_bytes() -> int:
    return settings.RELAY_MAX_PAYLOAD_BYTES


class RelayQueueSerializer(serializers.Serializer):
    recipient_id = StrictUUIDField()
    # Decoded size checked before decoding (413); the rest of the rules live in the service,
    # which the WebSocket path calls too.
    payload = Base64BytesField(
        max_bytes=_max_payload_bytes,
        help_text="Standard base64 (with padding) of the ciphertext; at most RELAY_MAX_PAYLOAD_BYTES "
        "(64 KiB by default) once decoded.",
    )
    ttl_seconds = StrictIntegerField(
        required=False,
        allow_null=True,
        help_text="Lifetime in seconds, in (0, RELAY_MAX_TTL_SECONDS] (30 days by default); "
        "absent or null: RELAY_DEFAULT_TTL_SECONDS (7 days).",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # The service's range (it answers `invalid_ttl` outside it, for the socket path too), read
        # by drf-spectacular so the OpenAPI schema states it: `minimum`, `maximum`.
        fields["ttl_seconds"].min_value = 1
        fields["ttl_seconds"].max_value = settings.RELAY_MAX_TTL_SECONDS
        return fields


class RelayQueuedSerializer(serializers.Serializer):
    """What POST /relay/queue answers: the envelope without its payload."""

    id = serializers.UUIDField()
    sender_id = serializers.UUIDField()
    recipient_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class RelayEnvelopeSerializer(RelayQueuedSerializer):
    """One pending envelope, and the `relay.envelope` event's data."""

    payload = Base64BytesField(help_text="Standard base64 of the ciphertext.")


class RelayPendingQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1)
    cursor = serializers.CharField(required=False)


class RelayPendingPageSerializer(serializers.Serializer):
    """The paginated list shape (schema only)."""

    results = RelayEnvelopeSerializer(many=True)
    next = serializers.URLField(
        allow_null=True, help_text="The next page, or null when this page holds the rest."
    )
    previous = serializers.URLField(
        allow_null=True, help_text="Always null: the queue is read forward (read, ack, read on)."
    )
