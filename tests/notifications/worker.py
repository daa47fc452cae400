"""A real `celery -A messenger worker` process (with its embedded beat) for integration tests.

It shares the test database (DATABASE_URL names it), the broker (REDIS_URL) and writes email
to files in a folder the test reads (EMAIL_URL=filemail://...).
"""

from __future__ import annotations

import email
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)
# The file backend ends each message with a line of 79 dashes.
FILE_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def skip_unless_real_services() -> None:
    if not settings.REDIS_URL:
        pytest.skip(
            "needs a real broker and a worker process: set REDIS_URL (the embedded mode runs "
            "tasks in-process; CI's real mode runs this test)"
        )
    if settings.DATABASE_VENDOR != "postgresql":
        pytest.skip("the worker process must share the test database: set DATABASE_URL to PostgreSQL")


def test_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"


def parse_mail_file(path: Path) -> list[Message]:
    raw = path.read_bytes()
    return [
        email.message_from_bytes(chunk.lstrip(b"\n")) for chunk in raw.split(FILE_SEPARATOR) if chunk.strip()
    ]


def text_of(message: Message, subtype: str = "plain") -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes), payload  # a leaf part decodes to bytes
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/{subtype} part")


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    mail_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def messages_to(self, address: str) -> list[Message]:
        found = []
        for path in sorted(self.mail_dir.glob("*.log")):
            found += [m for m in parse_mail_file(path) if address in (m["To"] or "")]
        return found

    def wait_for_messages_to(self, address: str, *, count: int = 1, timeout: float = 60.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages_to(address)
            if len(found) >= count:
                return found
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited ({self.process.returncode}):\n{self.log()}")
            time.sleep(0.2)
        raise AssertionError(f"no email to {address} within {timeout}s; worker log:\n{self.log()}")

    def log(self) -> str:
        return self.log_text()[-6000:]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(tmp_dir: Path, *, extra_env: dict[str, str] | None = None) -> Iterator[WorkerProcess]:
    from messenger.celery import app

    mail_dir = tmp_dir / "mail"
    mail_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_dir / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": test_database_url(),
        "DATABASE_POOL": "0",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        # django-environ drops the first slash of the path: "filemail:///" + "/abs/path".
        "EMAIL_URL": f"filemail:///{mail_dir.resolve()}",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    # Leftovers of earlier runs in the default queue would only be noise in the log.
    app.control.purge()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "messenger",
                "worker",
                "--beat",
                "--schedule",
                str(tmp_dir / "beat-schedule"),
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(process=process, mail_dir=mail_dir, log_path=log_path, env=env)
    try:
        yield worker
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
