"""Fixtures for every test: API clients, event capture, and a clean cache per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from core import events

pytest_plugins = ["tests.s3"]  # s3_server / s3_bucket / s3_storage: a real S3 endpoint (moto)


def pytest_configure(config: pytest.Config) -> None:
    # .ci/run sets this: a CI run that silently fell back to SQLite or no Redis proves nothing.
    if os.environ.get("CI_REQUIRE_REAL_SERVICES") and (
        settings.DATABASE_VENDOR != "postgresql" or not settings.REDIS_URL
    ):
        raise pytest.UsageError("CI_REQUIRE_REAL_SERVICES is set but DATABASE_URL/REDIS_URL are not real")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Printed at session start: which real services this run talks to (CI checks this)."""
    from django.db import connection

    from tests.browser.conftest import report_header_line as browser_report_header_line

    db = settings.DATABASES["default"]
    # The database the tests use (pytest-django creates it), not the development one in NAME.
    test_db = connection.creation._get_test_db_name()
    return [
        f"messenger: test database vendor={settings.DATABASE_VENDOR} name={test_db} host={db.get('HOST') or '-'}",
        f"messenger: redis={settings.REDIS_URL or 'none (embedded: locmem cache, in-memory layer)'}",
        f"messenger: channel layer={settings.CHANNEL_LAYERS['default']['BACKEND']}",
        f"messenger: storage={settings.STORAGES['default']['BACKEND']}",
        f"messenger: celery eager={settings.CELERY_TASK_ALWAYS_EAGER} broker={settings.CELERY_BROKER_URL}",
        browser_report_header_line(),
    ]


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Throttle counters, denylists and tickets live in the cache: no test sees another's."""
    _clear_cache()
    yield
    _clear_cache()


def _clear_cache() -> None:
    if settings.REDIS_URL:
        # RedisCache.clear() is FLUSHDB, which would also drop the broker's and layer's keys.
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        prefix = settings.CACHES["default"]["KEY_PREFIX"]
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tasks run in-process unless a test is marked `real_celery` (it starts a real worker).

    Set on the Celery app's conf: overriding Django settings after the app is configured would
    not reach it (docs/ARCHITECTURE.md).
    """
    from messenger.celery import app

    if request.node.get_closest_marker("real_celery"):
        yield
        return
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db):
    """`make_user(username="ann")` -> a saved, active user with DEFAULT_PASSWORD."""
    from tests.factories import UserFactory

    return UserFactory


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def other_user(make_user):
    return make_user()


def bearer_client(user) -> APIClient:
    """An APIClient authenticated as `user` with a real access JWT."""
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    client.user = user
    return client


@pytest.fixture
def client_for():
    """`client_for(user)` -> an APIClient sending that user's Bearer token."""
    return bearer_client


@pytest.fixture
def user_client(user):
    return bearer_client(user)


@pytest.fixture
def capture_events(monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any):
    """`with capture_events() as sent:` runs on-commit callbacks and records each publish.

    Each record: {"groups": [...channel-layer group names], "type": ..., "data": {...}}, plus
    "per_user": {user id: part} for `publish_per_user`.
    The real send still happens, so sockets listening in the test get the event too.
    """
    real_send = events._send

    @contextmanager
    def capture() -> Iterator[list[dict[str, Any]]]:
        sent: list[dict[str, Any]] = []

        def record(group_names: list[str], message: dict[str, Any], user_parts: Any = None) -> None:
            # publish_per_user: the users' groups, and each user's own part under "per_user"
            groups = [*group_names, *(user_parts or {})]
            parts = {"per_user": dict(user_parts.values())} if user_parts else {}
            sent.append({"groups": groups, **message["event"], **parts})
            real_send(group_names, message, user_parts)

        monkeypatch.setattr(events, "_send", record)
        with django_capture_on_commit_callbacks(execute=True):
            yield sent
        monkeypatch.setattr(events, "_send", real_send)

    return capture


@pytest.fixture
async def _close_thread_connections():
    """Async tests reach the database from asgiref's worker thread; close that thread's
    connection afterwards, or PostgreSQL refuses to drop the test database at the end.

    It is also the barrier before the teardown's flush: the call queues behind whatever that
    one thread is still running (a write whose awaiting task was cancelled), so no query of the
    test's overlaps the flush (SQLite's shared in-memory database: "database table is locked")."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture
async def _end_sockets(_close_thread_connections):
    """Every socket the test opened has ended, its consumer's clean-up done, before the worker
    thread's connections are closed and the test's data flushed (tests/sockets.py: why). It
    depends on _close_thread_connections so that it is torn down first."""
    from tests.sockets import Socket, end_open_sockets

    Socket.opened.clear()  # only this test's sockets: an earlier one's loop is gone
    yield
    await end_open_sockets()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    import inspect

    for item in items:
        function = getattr(item, "function", None)
        if function is not None and inspect.iscoroutinefunction(function):
            item.fixturenames.append("_end_sockets")
