"""Test settings: production settings (DEBUG off) with a test secret and plain-HTTP test hosts.

The environment still chooses the mode: nothing set runs on SQLite and in-memory layers;
DATABASE_URL / REDIS_URL (as .ci/run sets them) run on PostgreSQL and Redis.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from messenger.settings import *  # noqa: F403
from messenger.settings import CACHES, REDIS_URL

SECURE_SSL_REDIRECT = False
# Argon2 stays first in production; here a cheap hasher keeps hundreds of logins fast.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
if REDIS_URL:
    # A prefix per run: parallel runs and leftovers from an earlier run never share counters.
    CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"
# The relay's Redis keys too (tests/relay/conftest.py removes them around each test).
# A worker process a test starts is handed the test's prefix explicitly.
RELAY_REDIS_PREFIX = os.environ.get("TEST_RELAY_REDIS_PREFIX") or f"test-{os.getpid()}-relay"
# Presence keys as well (tests/realtime/test_presence.py clears them around each test).
REALTIME_PRESENCE_REDIS_PREFIX = (
    os.environ.get("TEST_PRESENCE_REDIS_PREFIX") or f"test-{os.getpid()}-presence"
)
