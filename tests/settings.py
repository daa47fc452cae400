"""Test settings: production settings (DEBUG off) with a test secret and plain-HTTP test hosts.

The environment still chooses the mode: nothing set runs on SQLite and in-memory layers;
DATABASE_URL / REDIS_URL (as .ci/run sets them) run on PostgreSQL and Redis.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from messenger.settings import *  # noqa: F403
from messenger.settings import CACHES, CELERY_BROKER_TRANSPORT_OPTIONS, CHANNEL_LAYERS, REDIS_URL

# Every Redis key of a run starts with this prefix: the cache (with its throttle counters, tickets
# and denylists), the channel layer's groups and inboxes, the relay, presence, Celery's queues and
# bindings, and the servers and workers the tests start. tests/conftest.py deletes `PREFIX:*` when
# the run ends, so a run leaves Redis as it found it, and parallel runs never share a key. Set in
# the environment so that the processes the run starts (workers on these settings, servers given
# it by tests/servers.py) use the same one.
TEST_RUN_PREFIX = os.environ.setdefault("TEST_RUN_PREFIX", f"test-{os.getpid()}")

SECURE_SSL_REDIRECT = False
# Argon2 stays first in production; here a cheap hasher keeps hundreds of logins fast.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
if REDIS_URL:
    CACHES["default"]["KEY_PREFIX"] = f"{TEST_RUN_PREFIX}:cache"
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{TEST_RUN_PREFIX}:asgi"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "global_keyprefix": f"{TEST_RUN_PREFIX}:celery:",  # CELERY_BROKER_KEY_PREFIX's option
    }
# The relay's Redis keys too (tests/relay/conftest.py removes them around each test).
# A worker process a test starts may be handed a test's own prefix explicitly.
RELAY_REDIS_PREFIX = os.environ.get("TEST_RELAY_REDIS_PREFIX") or f"{TEST_RUN_PREFIX}:relay"
# Presence keys as well (tests/realtime/test_presence.py clears them around each test).
REALTIME_PRESENCE_REDIS_PREFIX = os.environ.get("TEST_PRESENCE_REDIS_PREFIX") or f"{TEST_RUN_PREFIX}:presence"
