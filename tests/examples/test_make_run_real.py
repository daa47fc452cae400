"""Real mode in one command (issue 19): `make run` with REDIS_URL set also runs a Celery worker
(and beat) under honcho: a registration's verification email, queued on the broker by the server,
is sent by that worker (the console email in make run's output, the outbox row `sent`), with
nothing else started by hand.

The server uses the test's PostgreSQL database and Redis, with its own cache/channel prefixes and
its own Celery queue, so no other worker on the shared Redis can take its task (nor it theirs).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.accounts.helpers import STRONG_PASSWORD
from tests.examples.helpers import ROOT, make
from tests.notifications.broker import closed_port
from tests.servers import delete_keys, key_prefix, server_env, skip_unless_postgres_and_redis

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class MakeRun:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = closed_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("wb") as log:
            # A session of its own: make, honcho and its three processes are stopped together.
            self.process = subprocess.Popen(
                make("run", port=self.port),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"make run exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"make run did not serve within 90 s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def real_make_run(transactional_db, django_db_blocker, tmp_path: Path) -> Iterator[MakeRun]:
    skip_unless_postgres_and_redis()
    prefix = key_prefix("makerun")
    with django_db_blocker.unblock():
        env = server_env(prefix, tmp_path)
    env = {key: value for key, value in env.items() if not key.startswith(("MAKE", "MFLAGS", "HOST", "PORT"))}
    # Queued, not eager: that is what needs the worker. A queue of this run's own.
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    env.update({"CELERY_TASK_DEFAULT_QUEUE": prefix, "LOG_LEVEL": "INFO"})
    server = MakeRun(env, tmp_path / "make-run.log")
    try:
        server.wait_until_serving()
        yield server
    finally:
        server.stop()
        delete_keys(prefix)


def test_make_run_with_redis_runs_a_worker_that_sends_the_verification_email(real_make_run: MakeRun) -> None:
    from notifications.models import OutboundEmail

    username = f"carol_{uuid.uuid4().hex[:8]}"
    email = f"{username}@example.com"
    response = httpx.post(
        f"{real_make_run.url}/api/v1/auth/register",
        json={"email": email, "username": username, "password": STRONG_PASSWORD},
        timeout=20,
        trust_env=False,
    )
    assert response.status_code == 201, response.text

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if re.search(r"http://\S+/verify-email\?token=\S+", real_make_run.log()):
            break
        time.sleep(0.5)
    log = real_make_run.log()
    # The worker printed it (honcho prefixes each line with the time and its process), linking
    # to the server's port.
    worker_lines = [line for line in log.splitlines() if " worker.1 | " in line]
    assert any(f"To: {email}" in line for line in worker_lines), log[-6000:]
    assert any(
        f"http://127.0.0.1:{real_make_run.port}/verify-email?token=" in line for line in worker_lines
    ), log[-6000:]
    # The console backend prints the email before the worker marks the row sent (its own
    # commit, a moment later: on a loaded machine the read below came first).
    deadline = time.monotonic() + 20
    while (status := OutboundEmail.objects.get(to_email=email).status) != OutboundEmail.Status.SENT:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == OutboundEmail.Status.SENT
