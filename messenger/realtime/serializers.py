"""Serializers of the realtime layer's REST side and of its `presence` event (one shape for both,
so a client's state from events equals a fresh GET /presence)."""

from __future__ import annotations

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


class PresenceQuerySerializer(serializers.Serializer):
    user_ids = serializers.CharField(
        trim_whitespace=True,
        help_text=f"Comma-separated user ids, at most {PRESENCE_MAX_USER_IDS}.",
    )

    def validate_user_ids(self, value: str) -> list[UUID]:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not parts:
            raise serializers.ValidationError("Give at least one user id.", code="required")
        if len(parts) > PRESENCE_MAX_USER_IDS:
            raise serializers.ValidationError(
                f"At most {PRESENCE_MAX_USER_IDS} user ids per request.", code="too_many_ids"
            )
        ids: list[UUID] = []
        for part in parts:
            try:
                ids.append(UUID(part))
            except ValueError:
                raise serializers.ValidationError(
                    f"{part[:40]!r} is not a valid UUID.", code="invalid_uuid"
                ) from None
        return list(dict.fromkeys(ids))  # duplicates once, in the order given
