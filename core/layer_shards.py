"""Every process must list the same channel-layer shards, in the same order.

channels_redis maps a group and a process's inbox to a shard by index (a CRC32 modulo the number
of hosts): a process configured with another CHANNEL_LAYER_REDIS_URLS (or CHANNEL_LAYER_PREFIX)
writes and reads elsewhere, and events between it and the others are lost without an error. So
each process registers a fingerprint of its layer (the shards in order, each as host, port,
database and scheme: a password may change without changing the shard; and the prefix) in a
registry on REDIS_URL, the single authority every process shares, when its readiness is probed.

The fingerprint seen first among those still registered is the established one. A process whose
fingerprint differs is not ready (/readyz 503 saying so): a pod rolled out with other shards
never takes traffic, while the processes already serving stay ready, so a mistake cannot take
the service down. A fingerprint nobody has registered for `CHANNEL_LAYER_SHARDS_WINDOW_SECONDS`
is forgotten: after a deliberate change, with every process restarted together (README,
"Scaling"), the new list is established once the old processes' entries lapse.

The registry is two sorted sets of fingerprints (when each was last and first seen), updated by
one Lua script on Redis's own clock: pods' clocks may differ, the registry's windows do not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

# channels_redis's layer, and ours on top of it (core/channel_layer.py: same hosts).
REDIS_LAYER_BACKENDS = frozenset(
    {"channels_redis.core.RedisChannelLayer", "core.channel_layer.RedisChannelLayer"}
)

# KEYS: last seen, first seen. ARGV: this fingerprint, the window (seconds), the keys' TTL.
# Returns the fingerprints still registered, the first seen first, and how long ago each was
# first seen (seconds, as strings).
_REGISTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.6f', now - tonumber(ARGV[2])))
for _, fingerprint in ipairs(stale) do
  redis.call('ZREM', KEYS[1], fingerprint)
  redis.call('ZREM', KEYS[2], fingerprint)
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local registered = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local answer = {}
for i = 1, #registered, 2 do
  answer[#answer + 1] = registered[i]
  answer[#answer + 1] = string.format('%.1f', now - tonumber(registered[i + 1]))
end
return answer
"""


def _shard(url: str) -> dict[str, object]:
    """What names a shard: not its password (rotating one changes no shard)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return {"scheme": "unix", "path": parts.path}
    database = parts.path.lstrip("/") or "0"
    return {
        "scheme": parts.scheme,
        "host": (parts.hostname or "").lower(),
        "port": parts.port or 6379,
        "db": database,
        "user": parts.username or "",
    }


def layer_fingerprint() -> str | None:
    """This process's channel layer, as a short hash; None when it is not the Redis layer."""
    layer = settings.CHANNEL_LAYERS["default"]
    if layer["BACKEND"] not in REDIS_LAYER_BACKENDS:
        return None
    config = layer["CONFIG"]
    hosts = [host["address"] if isinstance(host, dict) else host for host in config["hosts"]]
    material = {"prefix": config.get("prefix", "asgi"), "shards": [_shard(url) for url in hosts]}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def _registry_keys() -> list[str]:
    # The cache's key prefix: the deployment's namespace on REDIS_URL (a test run's own in tests).
    base = f"{settings.CACHES['default'].get('KEY_PREFIX') or 'messenger'}:channel-layer-shards"
    return [f"{base}:last-seen", f"{base}:first-seen"]


@dataclass(frozen=True)
class ShardCheck:
    fingerprint: str
    established: str
    registered: dict[str, float]  # fingerprint -> seconds since first seen

    @property
    def agrees(self) -> bool:
        return self.fingerprint == self.established

    def problem(self) -> str:
        shards = len(settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"])
        return (
            f"this process's channel layer ({shards} shard(s), fingerprint {self.fingerprint}) differs from "
            f"the running processes' (fingerprint {self.established}, first seen "
            f"{self.registered[self.established]:.0f} s ago): events between them would be lost. Every "
            "process must list the same CHANNEL_LAYER_REDIS_URLS in the same order, with the same "
            "CHANNEL_LAYER_PREFIX; to change them, restart every process together."
        )


def register_and_compare(client) -> ShardCheck | None:  # type: ignore[no-untyped-def]
    """Registers this process's layer with `client` (REDIS_URL's) and compares it with the
    established one; None when this process has no Redis layer to compare."""
    fingerprint = layer_fingerprint()
    if fingerprint is None:
        return None
    window = settings.CHANNEL_LAYER_SHARDS_WINDOW_SECONDS
    answer = client.eval(_REGISTER, 2, *_registry_keys(), fingerprint, window, math.ceil(window * 2))
    registered = {
        (name.decode() if isinstance(name, bytes) else name): float(age)
        for name, age in zip(answer[::2], answer[1::2], strict=True)
    }
    established = next(iter(registered))  # the first seen: ZRANGE orders by score
    check = ShardCheck(fingerprint=fingerprint, established=established, registered=registered)
    if not check.agrees:
        logger.error("Channel layer shards: %s", check.problem())
    elif len(registered) > 1:
        others = ", ".join(name for name in registered if name != fingerprint)
        logger.warning(
            "Channel layer shards: processes with another layer (fingerprint %s) are registered; "
            "they stay not ready until they list the same shards as this one (%s).",
            others,
            fingerprint,
        )
    return check
