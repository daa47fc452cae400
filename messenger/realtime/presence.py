"""Presence: who is online, counted across server processes.

The gateway consumer calls these three hooks; this module owns how presence is stored, when a
user counts as online or offline, the `presence` events to their accepted contacts and the
throttled `last_seen` write. This first version is the interface only (no-ops), so the consumer
and presence can be built side by side.
"""

from __future__ import annotations

from uuid import UUID

from django.conf import settings


def heartbeat_interval_seconds() -> float:
    """How often the consumer must call `presence_connection_refreshed` for each open socket."""
    return float(getattr(settings, "REALTIME_PRESENCE_HEARTBEAT_SECONDS", 20))


async def presence_connection_opened(*, user_id: UUID, connection_id: str) -> None:
    """A socket of `user_id` authenticated (`connection_id` is its channel name)."""


async def presence_connection_refreshed(*, user_id: UUID, connection_id: str) -> None:
    """The socket is still open (called every `heartbeat_interval_seconds()`)."""


async def presence_connection_closed(*, user_id: UUID, connection_id: str) -> None:
    """The socket closed (for any reason, after it had authenticated)."""
