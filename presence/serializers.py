"""Serializers of GET /presence (its schema and its query); the `presence` event's payload is
presence/events.py, the same fields."""

from __future__ import annotations

import re
from uuid import UUID

from rest_framework import serializers

PRESENCE_MAX_USER_IDS = 100


class PresenceSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    online = serializers.BooleanField()
    last_seen = serializers.DateTimeField(
        allow_null=True, help_text="When the user was last online; null while they are online."
    )


class PresenceListSerializer(serializers.Serializer):
    results = PresenceSerializer(many=True)


_UUID = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
# The whole `user_ids` value: 1 to PRESENCE_MAX_USER_IDS canonical UUIDs, comma-separated, spaces
# allowed around each. The OpenAPI schema states this same pattern, and the server applies it
# as it is (ASCII classes only, so Python and ECMA regexes read it alike): what one accepts, the
# other does.
USER_IDS_PATTERN = f"^ *{_UUID} *(, *{_UUID} *){{0,{PRESENCE_MAX_USER_IDS - 1}}}$"


class PresenceQuerySerializer(serializers.Serializer):
    user_ids = serializers.CharField(
        trim_whitespace=False,
        help_text=f"Comma-separated user ids, at most {PRESENCE_MAX_USER_IDS}.",
    )

    def validate_user_ids(self, value: str) -> list[UUID]:
        parts = [part.strip(" ") for part in value.split(",")]
        if not any(parts):
            raise serializers.ValidationError("Give at least one user id.", code="required")
        if len(parts) > PRESENCE_MAX_USER_IDS:
            raise serializers.ValidationError(
                f"At most {PRESENCE_MAX_USER_IDS} user ids per request.", code="too_many_ids"
            )
        if not re.fullmatch(USER_IDS_PATTERN.removeprefix("^").removesuffix("$"), value):
            bad = next((part for part in parts if not re.fullmatch(_UUID, part)), value)
            raise serializers.ValidationError(f"{bad[:40]!r} is not a valid UUID.", code="invalid_uuid")
        return list(dict.fromkeys(UUID(part) for part in parts))  # duplicates once, in the order given
