"""Fixtures of the relay tests: every rule runs on both stores (`relay_store`, parametrised).

The Redis store uses the run's Redis (REDIS_URL) when there is one; in the embedded mode it
uses a throwaway redis-server of its own, so the Redis store is exercised in both modes (it is
skipped only on a machine without redis-server and without REDIS_URL).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings

from relay.store import RedisStore, RelayStore, get_store
from tests.relay.helpers import b64
from tests.relay.redis_server import RedisServer, redis_server_binary


@pytest.fixture(scope="session")
def relay_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    if settings.REDIS_URL:
        yield settings.REDIS_URL
        return
    if not redis_server_binary():
        yield None
        return
    server = RedisServer(tmp_path_factory.mktemp("relay-redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


def _forget_relay_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["database", "redis"])
def relay_store(
    request: pytest.FixtureRequest, settings: Any, relay_redis_url: str | None
) -> Iterator[RelayStore]:
    """The store the code under test uses, once as the database table, once as Redis."""
    if request.param == "redis":
        if relay_redis_url is None:
            pytest.skip("the Redis store needs REDIS_URL or a redis-server binary")
        settings.RELAY_REDIS_URL = relay_redis_url
        _forget_relay_keys(relay_redis_url, settings.RELAY_REDIS_PREFIX)
    settings.RELAY_STORE = request.param
    store = get_store()
    assert store.name == request.param
    yield store
    if request.param == "redis":
        assert relay_redis_url is not None
        _forget_relay_keys(relay_redis_url, settings.RELAY_REDIS_PREFIX)


@pytest.fixture
def redis_store(relay_store: RelayStore) -> RedisStore:
    """For tests that only make sense on Redis (use with a `redis`-only parametrisation)."""
    assert isinstance(relay_store, RedisStore)
    return relay_store


@pytest.fixture
def queue(client_for):
    """`queue(sender, recipient, payload=b"...", ttl_seconds=..., expect=201)` -> the response."""

    def _queue(sender, recipient, payload: bytes = b"ciphertext", expect: int | None = 201, **extra: Any):
        body = {"recipient_id": str(getattr(recipient, "pk", recipient)), "payload": b64(payload), **extra}
        response = client_for(sender).post("/api/v1/relay/queue", body, format="json")
        if expect is not None:
            assert response.status_code == expect, response.content
        return response

    return _queue


@pytest.fixture
def pending(client_for):
    """`pending(user)` -> the JSON page of the user's own queue (200 asserted)."""

    def _pending(user, expect: int = 200, **params: Any):
        response = client_for(user).get(f"/api/v1/relay/pending/{user.pk}", params)
        assert response.status_code == expect, response.content
        return response.json()

    return _pending
