"""Point the Celery app at a broker nobody listens on, for real, and back."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from messenger.celery import app


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reset_pools() -> None:
    # The app caches its connection and producer pools for the URL it first used.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def unreachable_broker() -> Iterator[str]:
    """Tasks are published (not run eagerly) to a Redis URL on a closed port."""
    previous = app.conf.broker_url, app.conf.broker_write_url, app.conf.task_always_eager
    url = f"redis://127.0.0.1:{closed_port()}/0"
    app.conf.broker_url = url
    app.conf.broker_write_url = None
    app.conf.task_always_eager = False
    _reset_pools()
    try:
        yield url
    finally:
        app.conf.broker_url, app.conf.broker_write_url, app.conf.task_always_eager = previous
        _reset_pools()
