"""The cache backends of settings.CACHES: Django's own, counting gets, hits and misses into
django-prometheus's cache metrics (`django_cache_get_total{backend}`, ...).

Not django-prometheus's classes: its Redis ones import django-redis (not a dependency here), and
its LocMemCache answers the default for a cached 0 or "" (`return cached or default`).

One Redis client per process (issue 15): Django keeps a cache object per thread *and per asyncio
context*, and each builds its own connection pool, so every WebSocket consumer (a context of its
own) held a Redis connection of its own after its first cache read (5,000 sockets, 5,000 Redis
clients), and every call built a new `redis.Redis`. Here every cache object of the process shares
one client (redis-py's pool is thread-safe, and resets itself in a forked child).
"""

from __future__ import annotations

import threading
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


class SharedRedisCacheClient(RedisCacheClient):
    """Django's client, with its `redis.Redis` built once per server (not once per call)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._lock = threading.Lock()

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            with self._lock:
                client = self._clients.get(index)
                if client is None:
                    client = self._client(connection_pool=self._get_connection_pool(write))
                    self._clients[index] = client
        return client


_shared_clients: dict[tuple[Any, ...], SharedRedisCacheClient] = {}
_shared_clients_lock = threading.Lock()


class RedisCache(_CountingGet, DjangoRedisCache):
    metrics_backend = "redis"

    @cached_property
    def _cache(self) -> SharedRedisCacheClient:
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _shared_clients_lock:
            client = _shared_clients.get(key)
            if client is None:
                client = _shared_clients[key] = SharedRedisCacheClient(self._servers, **self._options)
        return client


class LocMemCache(_CountingGet, DjangoLocMemCache):
    metrics_backend = "locmem"
