"""A real app server process (gunicorn, uvicorn or daphne) on its own SQLite database, with one
user and its access token: for tests that must see what a server does with a request's body
(tests/media/test_server.py) and for bench/upload_memory.py.

The process runs production settings (DEBUG off) in the embedded mode unless `extra_env` adds
S3_* variables (moto) or others; it shares nothing with the test session's database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.s3 import free_port, stop_process

BASE_DIR = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class AppServer:
    kind: str
    url: str
    token: str
    process: subprocess.Popen
    log_path: Path

    @property
    def serving_pid(self) -> int:
        """The process that handles requests (gunicorn: its one worker, not the master)."""
        if self.kind != "gunicorn":
            return self.process.pid
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            if children:
                return int(children[0])
            time.sleep(0.1)
        raise RuntimeError("gunicorn has no worker")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


def server_command(kind: str, port: int) -> list[str]:
    python = sys.executable
    if kind == "gunicorn":
        # As deploy/compose.yaml runs REST, with one worker so that one process does the work.
        return [
            *(python, "-m", "gunicorn", "messenger.wsgi", "-b", f"127.0.0.1:{port}"),
            *("-w", "1", "--threads", "8", "-k", "gthread", "--timeout", "600"),
        ]
    if kind == "uvicorn":
        return [
            python,
            "-m",
            "uvicorn",
            "messenger.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    if kind == "daphne":
        return [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "messenger.asgi:application"]
    raise ValueError(f"unknown server {kind}")


def server_env(work: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    # The session's own services stay out: this server has its own database and no broker.
    inherited = ("DATABASE_", "REDIS_", "CELERY_", "S3_", "MEDIA_", "CI_REQUIRE")
    env = {key: value for key, value in os.environ.items() if not key.startswith(inherited)}
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "messenger.settings",
            "DEBUG": "0",
            "SECRET_KEY": "test-server-" + uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "VAR_DIR": str(work / "var"),
            "TMPDIR": str(work / "tmp"),  # where upload handlers spool
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
    )
    return env


@contextmanager
def app_server(kind: str, work: Path, extra_env: dict[str, str] | None = None) -> Iterator[AppServer]:
    work.mkdir(parents=True, exist_ok=True)
    env = server_env(work, extra_env)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
    create_user = (
        "from accounts.models import User; from rest_framework_simplejwt.tokens import RefreshToken;"
        "u = User.objects.create_user(email='server@example.com', username='server', password='x' * 20);"
        "print(RefreshToken.for_user(u).access_token)"
    )
    shell = subprocess.run(
        [*manage, "shell", "-c", create_user],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = shell.stdout.strip().splitlines()[-1]
    port = free_port()
    log_path = work / f"{kind}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(kind, port), cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = AppServer(
        kind=kind, url=f"http://127.0.0.1:{port}", token=token, process=process, log_path=log_path
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not come up:\n{server.log()}")
            time.sleep(0.2)
        yield server
    finally:
        stop_process(process)
