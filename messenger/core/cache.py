"""The cache backends of settings.CACHES: Django's own, counting gets, hits and misses into
django-prometheus's cache metrics (`django_cache_get_total{backend}`, ...).

Not django-prometheus's classes: its Redis ones import django-redis (not a dependency here), and
its LocMemCache answers the default for a cached 0 or "" (`return cached or default`).
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
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


class RedisCache(_CountingGet, DjangoRedisCache):
    metrics_backend = "redis"


class LocMemCache(_CountingGet, DjangoLocMemCache):
    metrics_backend = "locmem"
