"""The channel layer of the real mode: channels_redis's, with a bounded pool and batched joins.

- Bounded: channels_redis gives each process an unbounded asyncio pool, so a burst (a thousand
  sockets closing at once, each leaving its groups) opened a Redis connection per socket and kept
  them all idle afterwards (issue 15: Redis clients grew with sockets until `maxclients`). Here the
  pool is redis-py's blocking one: at most CHANNEL_LAYER_MAX_CONNECTIONS connections per process
  and shard; a command waits for a free one rather than opening another (the layer's own
  blocking read holds one).
- Batched: `group_add_many` / `group_discard_many` join or leave a socket's groups in one pipelined
  round trip per shard (a socket in 50 chat groups used 100 round trips to connect).

The storage format is channels_redis's own, untouched: `group_send` (and the publisher's
`core/layer_fanout.py`) see the same sorted sets.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from typing import Any

from channels_redis.core import RedisChannelLayer as ChannelsRedisChannelLayer
from redis import asyncio as aioredis

DEFAULT_MAX_CONNECTIONS = 50
# How long a command waits for a free pooled connection before it fails.
POOL_TIMEOUT_SECONDS = 20


class RedisChannelLayer(ChannelsRedisChannelLayer):
    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "address" not in host:  # sentinel and host/port forms: channels_redis's own pool
            return super().create_pool(index)
        address = host.pop("address")
        host.setdefault("max_connections", DEFAULT_MAX_CONNECTIONS)
        return aioredis.BlockingConnectionPool.from_url(address, timeout=POOL_TIMEOUT_SECONDS, **host)

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
