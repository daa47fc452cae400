"""A /sync token survives a server restart: it is a position of the database's stream counter,
and nothing about it lives in a process. Proven with two real server processes, one after the
other, on the same database (PostgreSQL: the embedded SQLite test database is in memory)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import RefreshToken

from tests.messaging.helpers import send_body
from tests.notifications.worker import BASE_DIR
from tests.notifications.worker import test_database_url as database_url

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASE_VENDOR != "postgresql",
        reason="the server processes must share the test database: set DATABASE_URL to PostgreSQL",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(tmp_path) -> Iterator[str]:
    """A real `daphne messenger.asgi:application` on a free port; yields its base URL."""
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "DATABASE_POOL": "0",
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "messenger.asgi:application",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server exited:\n{log_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not come up:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def auth(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def test_a_token_from_before_a_restart_returns_what_happened_since_exactly_once(tmp_path, user, other_user):
    with server(tmp_path) as first:
        token = httpx.get(f"{first}/api/v1/sync", headers=auth(user), timeout=10).json()["next_since"]
        sent = []
        for _ in range(3):
            response = httpx.post(
                f"{first}/api/v1/messages/send", json=send_body(user), headers=auth(other_user), timeout=10
            )
            assert response.status_code == 201, response.text
            sent.append(response.json()["id"])
        read = httpx.put(f"{first}/api/v1/messages/{sent[0]}/read", headers=auth(user), timeout=10)
        assert read.status_code == 200

    # A new process: no state carried over but the database.
    with server(tmp_path) as second:
        body = httpx.get(
            f"{second}/api/v1/sync", params={"since": token}, headers=auth(user), timeout=10
        ).json()
        assert [(item["type"], item["data"]["id"]) for item in body["items"]] == [
            ("message.new", sent[0]),
            ("message.new", sent[1]),
            ("message.new", sent[2]),
            ("message.read", sent[0]),
        ]
        again = httpx.get(
            f"{second}/api/v1/sync", params={"since": body["next_since"]}, headers=auth(user), timeout=10
        ).json()
        assert again["items"] == []
