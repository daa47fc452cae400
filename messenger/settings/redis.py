"""Redis's share that is not the relay's or presence's: the cache and the channel layer (sharded
over CHANNEL_LAYER_REDIS_URLS). Without REDIS_URL, both in the process's memory."""

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from messenger.settings.environment import REDIS_URL, env

CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="messenger")
# Channels' layers drop a channel from a group this long after it joined (their `group_expiry`,
# a day by default), so that a dead process's memberships do not live forever; a socket open
# longer joins its groups again every REALTIME_GROUP_REJOIN_SECONDS (a quarter of it), or it
# would silently stop getting its events after a day.
CHANNEL_LAYER_GROUP_EXPIRY_SECONDS = env.int("CHANNEL_LAYER_GROUP_EXPIRY_SECONDS", default=86400)
REALTIME_GROUP_REJOIN_SECONDS = env.float(
    "REALTIME_GROUP_REJOIN_SECONDS", default=CHANNEL_LAYER_GROUP_EXPIRY_SECONDS / 4
)
if REALTIME_GROUP_REJOIN_SECONDS >= CHANNEL_LAYER_GROUP_EXPIRY_SECONDS:
    raise ImproperlyConfigured(
        "REALTIME_GROUP_REJOIN_SECONDS must be under CHANNEL_LAYER_GROUP_EXPIRY_SECONDS."
    )
# With the Redis layer each process registers a fingerprint of its shard list on REDIS_URL when its
# readiness is probed; one that differs from the running processes' is not ready
# (core/layer_shards.py). A fingerprint not registered for this long is forgotten
# (probes come every few seconds).
CHANNEL_LAYER_SHARDS_WINDOW_SECONDS = env.float("CHANNEL_LAYER_SHARDS_WINDOW_SECONDS", default=60)
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's own Redis cache, plus django-prometheus's get/hit/miss counters.
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    # redis is pinned below 8 (requirements.txt): redis-py 8's defaults break channels_redis 4.3
    # (django/channels_redis#422; bench/ws_sockets.py and test_cross_process.py found it): a 5 s
    # socket timeout cuts the layer's own 5 s blocking read (BZPOPMIN), closing one idle socket
    # per process every 5 s (1011). The socket timeout stays for an operator who must run
    # redis-py 8 (above 5 s); unset, none. The layer's pool is a blocking one of
    # CHANNEL_LAYER_MAX_CONNECTIONS (default 50) per process and shard (core/
    # channel_layer.py): a burst waits for a connection instead of opening one per socket.
    _channel_host_options: dict = {}
    if _socket_timeout := env.str("CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS", default=""):
        _channel_host_options["socket_timeout"] = env.parse_value(_socket_timeout, float)
    if _max_connections := env.str("CHANNEL_LAYER_MAX_CONNECTIONS", default=""):
        _channel_host_options["max_connections"] = env.parse_value(_max_connections, int)
    # The channel layer alone may be sharded over several Redis instances: it carries every event
    # to every socket, the traffic that grows with sockets and processes. channels_redis shards
    # by itself (a CRC32 of the name, modulo the number of hosts): a group's member set lives on
    # the shard of the group's name, each process's inbox on the shard of its channel prefix. So
    # every process (ASGI servers, REST workers, Celery workers: all publish) must list the same
    # URLs in the same order, and changing the list moves groups: roll it out with every process
    # restarted (sockets reconnect and /sync). The cache, tickets, throttles, presence, relay and
    # Celery stay on REDIS_URL: their operations (Lua scripts over a user's keys, one counter per
    # limit, one denylist) need a single authority, and their load does not grow per socket.
    CHANNEL_LAYER_REDIS_URLS = [
        url.strip() for url in env.list("CHANNEL_LAYER_REDIS_URLS", default=[]) if url.strip()
    ] or [REDIS_URL]
    if len(set(CHANNEL_LAYER_REDIS_URLS)) != len(CHANNEL_LAYER_REDIS_URLS):
        # One instance twice would still work, but weighs it double: surely a typo.
        raise ImproperlyConfigured("CHANNEL_LAYER_REDIS_URLS lists the same URL twice.")
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "core.channel_layer.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, **_channel_host_options} for url in CHANNEL_LAYER_REDIS_URLS],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="messenger:asgi"),
                "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=1000),
                "expiry": 60,
                "group_expiry": CHANNEL_LAYER_GROUP_EXPIRY_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "core.cache.LocMemCache"}}  # + get/hit/miss counters
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"group_expiry": CHANNEL_LAYER_GROUP_EXPIRY_SECONDS},
        }
    }
    if env.str("CHANNEL_LAYER_REDIS_URLS", default=""):
        # Shards without REDIS_URL would still leave tickets and presence in each process's memory.
        raise ImproperlyConfigured("CHANNEL_LAYER_REDIS_URLS needs REDIS_URL (the cache, tickets, presence).")
