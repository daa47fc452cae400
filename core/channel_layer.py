"""The channel layer of the real mode: channels_redis's, with a bounded pool and batched joins.

- Bounded: channels_redis gives each process an unbounded asyncio pool, so a burst (a thousand
  sockets closing at once, each leaving its groups) opened a Redis connection per socket and kept
  them all idle afterwards (issue 15: Redis clients grew with sockets until `maxclients`). Here the
  pool is redis-py's blocking one: at most CHANNEL_LAYER_MAX_CONNECTIONS connections per process
  and shard; a command waits for a free one rather than opening another (the layer's own
  blocking read holds one).
- One reader per process inbox: channels_redis's `receive` has every waiting socket race for a
  lock with two tasks and an `asyncio.wait` per message, so a message pushed to the inbox for a
  thousand sockets (a group message) cost a thousand sets of tasks, wakeups and cancellations
  (issue 15: more CPU than the sockets' own handling). Here one task reads the inbox and hands
  each message to the buffers of the channels it names; a socket's `receive` just awaits its
  buffer. What is read, from where, and the backup-queue cleaning are channels_redis's own
  (`receive_single`).
- Batched: `group_add_many` / `group_discard_many` join or leave a socket's groups in one pipelined
  round trip per shard (a socket in 50 chat groups used 100 round trips to connect).

The storage format is channels_redis's own, untouched: `group_send` (and the publisher's
`core/layer_fanout.py`) see the same sorted sets.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterable
from typing import Any

from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer
from redis import asyncio as aioredis

DEFAULT_MAX_CONNECTIONS = 50
# How long a command waits for a free pooled connection before it fails.
POOL_TIMEOUT_SECONDS = 20


# channels_redis ships no types: its class is Any to mypy.
class RedisChannelLayer(ChannelsRedisChannelLayer):  # type: ignore[misc]
    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "address" not in host:  # sentinel and host/port forms: channels_redis's own pool
            return super().create_pool(index)
        address = host.pop("address")
        host.setdefault("max_connections", DEFAULT_MAX_CONNECTIONS)
        return aioredis.BlockingConnectionPool.from_url(address, timeout=POOL_TIMEOUT_SECONDS, **host)

    # The inbox reader of the running loop (tests run a loop each; a server runs one), and the
    # process-local channels whose receive waits on its buffer (set per loop, on the first receive).
    _reader_loop: asyncio.AbstractEventLoop | None = None
    _reader: asyncio.Task[None] | None = None
    _waiting: dict[str, Any]

    async def receive(self, channel: str) -> Any:
        """The next message of `channel`: a process-local channel's comes from its buffer, which
        the process's one inbox reader fills (see the module); any other channel is read as
        channels_redis reads it."""
        if "!" not in channel:
            return await super().receive(channel)
        assert self.require_valid_channel_name(channel)
        inbox = self.non_local_name(channel)
        assert inbox.endswith(self.client_prefix + "!"), "Wrong client prefix"
        loop = asyncio.get_running_loop()
        if self._reader_loop is not loop:  # a new loop (a test's): the old one's reader is gone
            self._reader_loop, self._reader, self._waiting = loop, None, {}
        buffer = self.receive_buffer[channel]
        if buffer.empty():
            self._waiting[channel] = buffer
            if self._reader is None or self._reader.done():
                self._reader = loop.create_task(self._read_inbox(inbox))
            try:
                message = await buffer.get()
            except asyncio.CancelledError:
                # The socket is gone, and its buffer (as channels_redis); the reader with the last.
                self.receive_buffer.pop(channel, None)
                self._waiting.pop(channel, None)
                if not self._waiting and self._reader is not None:
                    self._reader.cancel()
                    self._reader = None
                raise
            self._waiting.pop(channel, None)
        else:
            message = buffer.get_nowait()
        # The buffer stays while its socket does (channels_redis dropped an empty one and made a
        # new queue for the next message: per socket and message, as costly as the rest of the
        # receive); it goes when the socket's receive is cancelled, above.
        if isinstance(message, _InboxReadFailed):
            raise message.error  # what channels_redis's receive raises when its read fails
        return message

    async def _read_inbox(self, inbox: str) -> None:
        """Reads the process inbox while any socket waits, and puts each message in the buffer of
        every channel it names (one dict for all of them, as channels_redis does). A failed read
        (Redis down) is raised in every waiting receive; the next receive starts a new reader."""
        try:
            while self._waiting:
                channels, message = await self.receive_single(inbox)
                for channel in channels if isinstance(channels, list) else [channels]:
                    self.receive_buffer[channel].put_nowait(message)
        except Exception as exc:
            for buffer in list(self._waiting.values()):
                buffer.put_nowait(_InboxReadFailed(exc))

    async def group_add_many(self, groups: Iterable[str], channel: str) -> None:
        """`group_add(group, channel)` for each group: one round trip per shard."""
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        now = time.time()
        for shard, keys in self._group_keys_by_shard(groups).items():
            pipe = self.connection(shard).pipeline(transaction=False)
            for key in keys:
                pipe.zadd(key, {channel: now})
                pipe.expire(key, self.group_expiry)
            await pipe.execute()

    async def group_discard_many(self, groups: Iterable[str], channel: str) -> None:
        """`group_discard(group, channel)` for each group: one round trip per shard."""
        for shard, keys in self._group_keys_by_shard(groups).items():
            pipe = self.connection(shard).pipeline(transaction=False)
            for key in keys:
                pipe.zrem(key, channel)
            await pipe.execute()

    def _group_keys_by_shard(self, groups: Iterable[str]) -> dict[int, list[bytes]]:
        by_shard: dict[int, list[bytes]] = collections.defaultdict(list)
        for group in groups:
            assert self.require_valid_group_name(group), "Group name not valid"
            by_shard[self.consistent_hash(group)].append(self._group_key(group))
        return by_shard


class _InboxReadFailed:
    """Put in a waiting channel's buffer when the inbox reader's read failed."""

    def __init__(self, error: Exception) -> None:
        self.error = error


async def group_add_many(layer: Any, groups: Iterable[str], channel: str) -> None:
    """Joins `channel` to every group, batched where the layer can (any layer)."""
    await _for_each_group(layer, "add", groups, channel)


async def group_discard_many(layer: Any, groups: Iterable[str], channel: str) -> None:
    """Takes `channel` out of every group, batched where the layer can (any layer)."""
    await _for_each_group(layer, "discard", groups, channel)


async def _for_each_group(layer: Any, action: str, groups: Iterable[str], channel: str) -> None:
    if isinstance(layer, RedisChannelLayer):
        await getattr(layer, f"group_{action}_many")(groups, channel)
        return
    for group in groups:
        await getattr(layer, f"group_{action}")(group, channel)
