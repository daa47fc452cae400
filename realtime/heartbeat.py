"""One heartbeat per process for all its sockets, not a task per socket.

Every `heartbeat_interval_seconds()` one task (per event loop: one per server process) refreshes
the presence of every authenticated socket of the process in one store call
(`presence_connections_refreshed`: a pipelined Redis round trip per thousand sockets), then joins
again the layer groups of those whose last join is REALTIME_GROUP_REJOIN_SECONDS old (the layer
drops a member `group_expiry` after it joined). Issue 15: a task per socket, each waking on its
own to make a thread hop and a Redis call, cost 55 % of a core per 5,000 idle sockets.

A socket is in the heartbeat from its `hello` to its clean-up; the task ends with the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import Protocol
from uuid import UUID

from django.conf import settings

from presence import services as presence_services

logger = logging.getLogger(__name__)


class HeartbeatSocket(Protocol):
    channel_name: str

    @property
    def heartbeat_user_id(self) -> UUID: ...

    async def rejoin_groups(self) -> None: ...


class ProcessHeartbeat:
    def __init__(self) -> None:
        # channel name -> (socket, when it last joined its groups, monotonic)
        self.sockets: dict[str, tuple[HeartbeatSocket, float]] = {}
        self.task: asyncio.Task | None = None

    def add(self, socket: HeartbeatSocket) -> None:
        self.sockets[socket.channel_name] = (socket, time.monotonic())
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    def discard(self, socket: HeartbeatSocket) -> None:
        self.sockets.pop(socket.channel_name, None)
        if not self.sockets and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(presence_services.heartbeat_interval_seconds())
            try:
                await self.beat()
            except Exception:  # the next beat tries again; a socket is never closed for this
                logger.exception("The sockets' heartbeat failed")

    async def beat(self) -> None:
        live = list(self.sockets.values())
        await presence_services.presence_connections_refreshed(
            [(socket.heartbeat_user_id, socket.channel_name) for socket, _ in live]
        )
        now = time.monotonic()
        for socket, joined_at in live:
            if now - joined_at < settings.REALTIME_GROUP_REJOIN_SECONDS:
                continue
            if socket.channel_name in self.sockets:
                self.sockets[socket.channel_name] = (socket, now)
            with contextlib.suppress(Exception):  # the layer down: the next rejoin retries
                await socket.rejoin_groups()


_heartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ProcessHeartbeat] = (
    weakref.WeakKeyDictionary()
)


def process_heartbeat() -> ProcessHeartbeat:
    """The heartbeat of the running event loop (tests run a loop each; a server, one)."""
    loop = asyncio.get_running_loop()
    heartbeat = _heartbeats.get(loop)
    if heartbeat is None:
        heartbeat = _heartbeats[loop] = ProcessHeartbeat()
    return heartbeat
