"""Fixtures for the gateway's tests."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer


def _drop_stale_channel_locks() -> None:
    """channels_redis keeps one receive-cleanup lock per process prefix and forgets to count down
    a waiter that was cancelled (a socket closing while another receives), so the lock outlives
    the test, bound to its event loop; the next test's loop then fails on it ("bound to a
    different event loop"). One loop per process in production never sees this; here each test
    has its own loop, so unheld leftovers are dropped between tests."""
    locks = getattr(get_channel_layer(), "receive_clean_locks", None)
    if locks is None:
        return
    for key, lock in list(locks.locks.items()):
        if not lock.locked():
            del locks.locks[key]
            locks.wait_counts.pop(key, None)


@pytest.fixture(autouse=True)
def _fresh_channel_locks():
    _drop_stale_channel_locks()
    yield
    _drop_stale_channel_locks()
