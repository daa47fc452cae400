"""Real server processes for integration tests: uvicorn or daphne serving `messenger.asgi` with
production settings (DEBUG off) on a free loopback port, sharing the test's PostgreSQL database
and Redis, and the clients the tests drive them with (REST through httpx, sockets through
websockets). Used by the cross-process, ghost, hostile-socket, metrics and scale tests.

A server process cannot see the test's SQLite file or in-memory channel layer: real mode only
(`skip_unless_postgres_and_redis`). Each caller gives its servers one key prefix of their own
(cache, channel layer, relay), shared by all of them: as in production, any process redeems a
ticket another issued and sees the same denylist; `delete_keys` removes them afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

from tests.accounts.helpers import STRONG_PASSWORD

# Aliased: a module-level name starting with test_ would be collected as a test.
from tests.notifications.worker import test_database_url as database_url_of_the_test
from tests.s3 import free_port

BASE_DIR = Path(settings.BASE_DIR)
START_TIMEOUT_SECONDS = 30.0
FRAME_TIMEOUT_SECONDS = 5.0  # how long a helper waits for a frame before failing (not a bound)


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def skip_unless_postgres_and_redis() -> None:
    if settings.DATABASE_VENDOR != "postgresql" or not settings.REDIS_URL:
        pytest.skip(
            "two server processes must share the test's database and channel layer: set DATABASE_URL "
            "(PostgreSQL) and REDIS_URL (the embedded SQLite file and in-memory layer are per process)"
        )


def server_command(kind: str, port: int) -> list[str]:
    if kind == "uvicorn":
        return [
            *(sys.executable, "-m", "uvicorn", "messenger.asgi:application"),
            *("--host", "127.0.0.1", "--port", str(port), "--ws", "websockets-sansio", "--lifespan", "off"),
            *("--ws-per-message-deflate", "false"),
        ]
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "messenger.asgi:application"]


def server_env(prefix: str, tmp: Path) -> dict[str, str]:
    inherited = ("DATABASE_", "REDIS_", "CELERY_", "S3_", "CI_REQUIRE", "CACHE_", "CHANNEL_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(inherited)}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "messenger.settings",
            "DEBUG": "0",
            # One key for both: a token either server mints is good on the other.
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": database_url_of_the_test(),
            "REDIS_URL": settings.REDIS_URL,
            "CACHE_KEY_PREFIX": prefix,
            "CHANNEL_LAYER_PREFIX": f"{prefix}:asgi",
            "RELAY_REDIS_PREFIX": f"{prefix}:relay",
            # Tasks (the verification email) run in the server, not on a broker another run's
            # worker might consume; the unread-email reminder is not what this test is about.
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "MESSAGING_UNREAD_EMAIL_DELAY_SECONDS": "0",
            "VAR_DIR": str(tmp / "var"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def wait_until_ready(server: Server, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"{server.kind} exited ({server.process.returncode}):\n{server.log()}")
        try:
            # /readyz: the process is up and reaches the database and Redis.
            if httpx.get(f"{server.url}/readyz", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{server.kind} not ready within {START_TIMEOUT_SECONDS}s:\n{server.log()}")
        time.sleep(0.1)


def delete_keys(prefix: str, redis_url: str | None = None) -> None:
    """Deletes `prefix:*` from Redis (REDIS_URL unless another instance is named)."""
    import redis

    client = redis.Redis.from_url(redis_url or settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def start_server(kind: str, env: dict[str, str], log_path: Path, port: int | None = None) -> Server:
    """Starts `kind` on `port` (a free one unless given: a caller whose environment must name the
    server's own address, e.g. FRONTEND_URL, picks it first) with `env`; not yet ready
    (`wait_until_ready`)."""
    port = port or free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(kind, port), cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return Server(kind=kind, port=port, process=process, log_path=log_path)


@dataclass
class Account:
    id: str
    access: str


async def register(server: Server, name: str) -> Account:
    username = f"{name}_{uuid.uuid4().hex[:8]}"
    body = {"email": f"{username}@example.com", "username": username, "password": STRONG_PASSWORD}
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=10) as client:
        response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    session = response.json()
    return Account(id=session["user"]["id"], access=session["access"])


async def rest_post(server: Server, account: Account, path: str, body: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {account.access}"}
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=10) as client:
        response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), f"{server.kind} {path}: {response.status_code} {response.text}"
    return response.json()


class Socket:
    """A client socket that keeps every frame it received, so that waiting for one frame does not
    lose another that arrived first (e.g. the sender's own copy before the next message)."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.unclaimed: list[dict] = []

    async def next_frame(self, frame_type: str, **match: str) -> dict:
        """The first unclaimed frame of this type whose data has these values (waiting for it)."""

        def wanted(frame: dict) -> bool:
            return frame["type"] == frame_type and all(frame["data"].get(k) == v for k, v in match.items())

        for frame in self.unclaimed:
            if wanted(frame):
                self.unclaimed.remove(frame)
                return frame
        async with asyncio.timeout(FRAME_TIMEOUT_SECONDS):
            while True:
                frame = json.loads(await self.connection.recv())
                if wanted(frame):
                    return frame
                self.unclaimed.append(frame)

    async def close(self) -> None:
        await self.connection.close()


async def open_socket(server: Server, account: Account, *, ticket_from: Server | None = None) -> Socket:
    """An authenticated socket: by a ticket (taken through REST from `ticket_from`) or an auth frame."""
    if ticket_from is not None:
        ticket = (await rest_post(ticket_from, account, "/api/v1/auth/ws-ticket"))["ticket"]
        connection = await connect(f"{server.ws_url}?ticket={ticket}", proxy=None, open_timeout=5)
    else:
        connection = await connect(server.ws_url, proxy=None, open_timeout=5)
        await connection.send(json.dumps({"type": "auth", "data": {"token": account.access}}))
    socket = Socket(connection)
    hello = await socket.next_frame("hello")
    assert hello["data"]["user_id"] == account.id
    return socket


def group_message_body(member_ids: list[str]) -> dict:
    return {
        "encrypted_content": base64.b64encode(os.urandom(48)).decode(),
        "encrypted_session_keys": {
            uid: base64.b64encode(f"key-for-{uid}".encode()).decode() for uid in member_ids
        },
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes-256-gcm",
        "client_message_id": str(uuid.uuid4()),
    }


class Recipient:
    """Just what `send_body` reads of a user."""

    def __init__(self, account: Account) -> None:
        self.pk = account.id


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(server: Server) -> Samples:
    """Every sample of the process's /metrics (from loopback: METRICS_ALLOWED's default)."""
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=10) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
