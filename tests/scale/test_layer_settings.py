"""CHANNEL_LAYER_REDIS_URLS: the channel layer's Redis shards, read by a fresh process as a
deployment would (settings are read once, at import)."""

from __future__ import annotations

import json

from tests.core.test_settings_guard import GOOD_SECRET, start_django

PRODUCTION = {"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "chat.example.com"}
PRINT_LAYER = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps(settings.CHANNEL_LAYERS['default']))"
)


def layer_of(**env: str) -> dict:
    result = start_django(code=PRINT_LAYER, **PRODUCTION, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_layer_is_sharded_over_the_listed_instances_in_their_order():
    layer = layer_of(
        REDIS_URL="redis://cache.internal:6379/0",
        CHANNEL_LAYER_REDIS_URLS="redis://layer-a.internal:6379/0, redis://layer-b.internal:6380/0",
        CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS="30",
    )
    # channels_redis's layer and storage format, with a bounded pool and batched joins.
    assert layer["BACKEND"] == "core.channel_layer.RedisChannelLayer"
    # The order is the shard map: channels_redis picks a host by index.
    assert layer["CONFIG"]["hosts"] == [
        {"address": "redis://layer-a.internal:6379/0", "socket_timeout": 30.0},
        {"address": "redis://layer-b.internal:6380/0", "socket_timeout": 30.0},
    ]


def test_without_the_list_the_layer_uses_redis_url():
    layer = layer_of(REDIS_URL="redis://cache.internal:6379/0", CHANNEL_LAYER_REDIS_URLS="")
    assert layer["CONFIG"]["hosts"] == [{"address": "redis://cache.internal:6379/0"}]


def test_refuses_an_instance_listed_twice():
    result = start_django(
        **PRODUCTION,
        REDIS_URL="redis://cache.internal:6379/0",
        CHANNEL_LAYER_REDIS_URLS="redis://layer-a.internal:6379/0,redis://layer-a.internal:6379/0",
    )
    assert result.returncode != 0
    assert "CHANNEL_LAYER_REDIS_URLS lists the same URL twice" in result.stderr


def test_refuses_shards_without_redis_url():
    # Tickets and presence would then live in each process's memory: sockets could not move.
    result = start_django(
        **PRODUCTION, REDIS_URL="", CHANNEL_LAYER_REDIS_URLS="redis://layer-a.internal:6379/0"
    )
    assert result.returncode != 0
    assert "CHANNEL_LAYER_REDIS_URLS needs REDIS_URL" in result.stderr
