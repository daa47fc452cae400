"""Every process must list the same channel-layer shards (core/layer_shards.py): a
process configured with another CHANNEL_LAYER_REDIS_URLS would silently split the layer, so it
registers a fingerprint of its layer on REDIS_URL and is not ready while it differs from the one
the running processes established; they stay ready.

Against real Redis (the registry) in this process, then with two real uvicorn processes.
"""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager, suppress

import httpx
import pytest
import redis

from core.layer_shards import layer_fingerprint, register_and_compare
from tests.s3 import stop_process
from tests.servers import (
    START_TIMEOUT_SECONDS,
    delete_keys,
    server_env,
    skip_unless_postgres_and_redis,
    start_server,
    wait_until_ready,
)


def second_shard(redis_url: str) -> str:
    """REDIS_URL's server, another database: another shard to channels_redis."""
    return redis_url.rsplit("/", 1)[0] + "/15"


def redis_layer(*urls: str, prefix: str = "messenger:asgi") -> dict:
    return {
        "default": {
            "BACKEND": "core.channel_layer.RedisChannelLayer",  # as settings configure it
            "CONFIG": {"hosts": [{"address": url} for url in urls], "prefix": prefix},
        }
    }


@pytest.fixture
def registry(settings):
    """A registry of this test's own (the cache's key prefix names it), on the session's Redis."""
    if not settings.REDIS_URL:
        pytest.skip("the registry lives on REDIS_URL: set it (real mode)")
    prefix = f"test-shards-{uuid.uuid4().hex[:12]}"
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    settings.CHANNEL_LAYERS = redis_layer(settings.REDIS_URL)
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()
    delete_keys(prefix)


def test_the_fingerprint_follows_the_shards_their_order_and_the_prefix_not_passwords(settings):
    settings.CHANNEL_LAYERS = redis_layer("redis://a:6379/0", "redis://b:6379/0")
    two = layer_fingerprint()
    settings.CHANNEL_LAYERS = redis_layer("redis://:secret@A:6379", "redis://:other@b/0")
    assert layer_fingerprint() == two  # the same shards, spelled otherwise, other passwords
    settings.CHANNEL_LAYERS = redis_layer("redis://b:6379/0", "redis://a:6379/0")
    assert layer_fingerprint() != two  # the order is the shard map
    settings.CHANNEL_LAYERS = redis_layer("redis://a:6379/0")
    assert layer_fingerprint() != two
    settings.CHANNEL_LAYERS = redis_layer("redis://a:6379/0", "redis://b:6379/0", prefix="other")
    assert layer_fingerprint() != two
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert layer_fingerprint() is None  # one process: nothing to agree on


@pytest.mark.django_db
def test_a_process_with_other_shards_is_not_ready_and_the_running_ones_stay_ready(client, registry, settings):
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.content
    assert ready.json()["checks"]["channel_layer_shards"] is True
    established = layer_fingerprint()

    settings.CHANNEL_LAYERS = redis_layer(
        settings.REDIS_URL, second_shard(settings.REDIS_URL)
    )  # a process set up otherwise
    refused = client.get("/readyz")
    assert refused.status_code == 503
    body = refused.json()
    assert body["code"] == "not_ready"
    assert body["checks"] == {
        **body["checks"],
        "database": True,
        "redis": True,
        "channel_layer_shards": False,
    }
    assert "CHANNEL_LAYER_REDIS_URLS" in body["detail"] and "2 shard(s)" in body["detail"]
    assert established in body["detail"] and layer_fingerprint() in body["detail"]
    assert "unreachable" not in body["detail"]
    assert (
        second_shard(settings.REDIS_URL) not in body["detail"]
    )  # /readyz is public: fingerprints, never URLs

    settings.CHANNEL_LAYERS = redis_layer(settings.REDIS_URL)  # the running processes
    assert client.get("/readyz").status_code == 200


def test_a_list_nobody_registers_any_more_gives_way(registry, settings):
    """A deliberate change, every process restarted together: the new list is established once
    the old processes' registrations lapse."""
    settings.CHANNEL_LAYER_SHARDS_WINDOW_SECONDS = 0.5
    old = register_and_compare(registry)
    assert old is not None and old.agrees
    settings.CHANNEL_LAYERS = redis_layer(settings.REDIS_URL, second_shard(settings.REDIS_URL))
    assert not register_and_compare(registry).agrees  # the old ones may still be running
    time.sleep(0.7)
    new = register_and_compare(registry)
    assert new.agrees and list(new.registered) == [new.fingerprint]


def test_a_worker_with_other_shards_says_so_at_start(registry, settings, caplog):
    from messenger.celery import _register_channel_layer

    register_and_compare(registry)  # a running web process
    settings.CHANNEL_LAYERS = redis_layer(settings.REDIS_URL, second_shard(settings.REDIS_URL))
    with caplog.at_level("ERROR", logger="core.layer_shards"):
        _register_channel_layer()
    assert any("differs from the running processes'" in record.getMessage() for record in caplog.records)


@contextmanager
def probed(url: str, every: float = 0.5):
    """Probes `url`'s /readyz in the background, as the kubelet does (each probe registers)."""
    stop = threading.Event()

    def probe() -> None:
        while not stop.wait(every):
            with suppress(httpx.TransportError):
                httpx.get(f"{url}/readyz", timeout=2, trust_env=False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_processes_the_one_with_other_shards_is_not_ready_until_the_other_is_gone(
    django_db_blocker, tmp_path, settings
):
    skip_unless_postgres_and_redis()
    prefix = f"test-shard-check-{uuid.uuid4().hex[:12]}"
    with django_db_blocker.unblock():
        env = server_env(prefix, tmp_path)
    env["CHANNEL_LAYER_SHARDS_WINDOW_SECONDS"] = "3"
    other_env = {
        **env,
        "CHANNEL_LAYER_REDIS_URLS": f"{settings.REDIS_URL},{second_shard(settings.REDIS_URL)}",
    }
    servers = []
    try:
        running = start_server("uvicorn", env, tmp_path / "running.log")
        servers.append(running)
        wait_until_ready(running, time.monotonic() + START_TIMEOUT_SECONDS)
        with probed(running.url):
            other = start_server("uvicorn", other_env, tmp_path / "other.log")
            servers.append(other)
            answer = first_readyz_answer(other)
            # Up, but not ready, saying why; the running process stays ready.
            assert answer.status_code == 503, answer.text
            assert "CHANNEL_LAYER_REDIS_URLS" in answer.json()["detail"]
            assert "differs from the running processes'" in other.log()
            assert httpx.get(f"{running.url}/readyz", timeout=5, trust_env=False).status_code == 200

        # The running process stops; once its registration lapses the other list is established.
        stop_process(running.process)
        wait_until_ready(other, time.monotonic() + 10)
    finally:
        for server in servers:
            stop_process(server.process)
        delete_keys(prefix)


def first_readyz_answer(server) -> httpx.Response:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            return httpx.get(f"{server.url}/readyz", timeout=5, trust_env=False)
        except httpx.TransportError:
            assert time.monotonic() < deadline and server.process.poll() is None, server.log()
            time.sleep(0.1)
