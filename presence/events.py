"""The `presence` event and its payload: one shape for the socket's event and for each item of
GET /presence, so a client's state built from events equals a fresh GET."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict
from uuid import UUID

from core.rendering import iso

PRESENCE = "presence"


@dataclass(frozen=True)
class PresenceStatus:
    user_id: UUID
    online: bool
    last_seen: datetime | None  # None while online


class PresencePayload(TypedDict):
    user_id: str
    online: bool
    last_seen: str | None


def presence_payload(status: PresenceStatus) -> PresencePayload:
    return {"user_id": str(status.user_id), "online": status.online, "last_seen": iso(status.last_seen)}
