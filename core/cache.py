"""The cache backends of settings.CACHES: Django's own, counting gets, hits and misses into
django-prometheus's cache metrics (`django_cache_get_total{backend}`, ...), with one Redis client
per process and a one-round-trip counter for the rate limits (`count_in_window`).

Not django-prometheus's classes: its Redis ones import django-redis (not a dependency here), and
its LocMemCache answers the default for a cached 0 or "" (`return cached or default`).
"""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any

from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.utils.functional import cached_property
from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)

_MISSING = object()


class _CountingGet:
    metrics_backend = ""

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        django_cache_get_total.labels(backend=self.metrics_backend).inc()
        try:
            value = super().get(key, _MISSING, version=version)  # type: ignore[misc]
        except Exception:
            django_cache_get_fail_total.labels(backend=self.metrics_backend).inc()
            raise
        if value is _MISSING:
            django_cache_misses_total.labels(backend=self.metrics_backend).inc()
            return default
        django_cache_hits_total.labels(backend=self.metrics_backend).inc()
        return value


# INCR, and on the window's first hit its expiry: the window runs from the first hit. PTTL gives
# what Retry-After says. One round trip, atomic (a key left without expiry is given one).
_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class SharedClientRedisCacheClient(RedisCacheClient):
    """Django's client, minus a `redis.Redis()` built on every call: one per connection pool.

    redis.Redis is thread-safe (each command takes a connection from the pool) and its pool
    notices a fork and starts afresh, so one per process serves every thread and request.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._count_script: Any = None

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            # The pool's own lookup (Django's), once per index; a race builds two, keeps one.
            client = self._clients.setdefault(
                index, self._client(connection_pool=self._get_connection_pool(write))
            )
        return client

    def count_in_window(self, key: str, seconds: float) -> tuple[int, float]:
        client = self.get_client(key, write=True)
        if self._count_script is None:
            self._count_script = client.register_script(_COUNT_IN_WINDOW)  # EVALSHA, EVAL if unknown
        count, ttl_ms = self._count_script(keys=[key], args=[max(1, int(seconds * 1000))], client=client)
        return int(count), int(ttl_ms) / 1000


# One client (and so one set of pools) per process and configuration. Django's cache handler
# makes a backend object per thread (and per async context), each building its own client with
# its own pools: under gunicorn's threads or ASGI's contexts that was a pool per thread.
_shared_clients: dict[tuple, SharedClientRedisCacheClient] = {}
_shared_clients_lock = threading.Lock()


def _shared_client(servers: list[str], options: dict[str, Any]) -> SharedClientRedisCacheClient:
    identity = (tuple(servers), repr(sorted(options.items())))
    with _shared_clients_lock:
        client = _shared_clients.get(identity)
        if client is None:
            client = _shared_clients[identity] = SharedClientRedisCacheClient(servers, **options)
        return client


class RedisCache(_CountingGet, DjangoRedisCache):
    metrics_backend = "redis"

    @cached_property
    def _cache(self) -> SharedClientRedisCacheClient:  # type: ignore[override]
        return _shared_client(self._servers, self._options)

    def count_in_window(self, key: str, seconds: float, version: int | None = None) -> tuple[int, float]:
        """Count one hit on `key` in a window of `seconds` from its first hit: (hits so far in
        this window, this one included; seconds until the window ends). One round trip."""
        return self._cache.count_in_window(self.make_and_validate_key(key, version=version), seconds)


class LocMemCache(_CountingGet, DjangoLocMemCache):
    metrics_backend = "locmem"

    def count_in_window(self, key: str, seconds: float, version: int | None = None) -> tuple[int, float]:
        """RedisCache.count_in_window, under the cache's own lock (one process: the embedded mode)."""
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            now = time.time()
            if self._has_expired(key):
                count, expires = 1, now + seconds
                self._set(key, pickle.dumps(count, self.pickle_protocol), seconds)
            else:
                count = pickle.loads(self._cache[key]) + 1  # noqa: S301 (our own pickle)
                self._cache[key] = pickle.dumps(count, self.pickle_protocol)
                expires = self._expire_info[key]
        return count, max(0.0, expires - now)
