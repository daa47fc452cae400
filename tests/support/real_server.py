"""One real uvicorn process serving the test database, for tests that must see what a real client
sees on the wire (close frames, a process's memory): tests/servers.py's setup, with settings of
the test's own on top.

Real mode only (PostgreSQL and Redis): a server process cannot see the test's SQLite file or its
in-memory channel layer.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3 import free_port, stop_process
from tests.servers import (
    BASE_DIR,
    START_TIMEOUT_SECONDS,
    Server,
    delete_keys,
    key_prefix,
    server_command,
    server_env,
    skip_unless_postgres_and_redis,
    wait_until_ready,
)

# Users are registered through the server's REST API, all from 127.0.0.1.
MANY_REGISTRATIONS = {"THROTTLE_REGISTER_IP": "1000/h", "THROTTLE_REGISTER_ACCOUNT": "1000/h"}


def rss_bytes(pid: int) -> int:
    """The process's resident set (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture
def start_uvicorn(transactional_db, django_db_blocker, tmp_path_factory) -> Iterator:
    """`start_uvicorn(**env)` -> a ready Server; every one started is stopped after the test
    (before the transactional flush, like the cross-process fixture: see its docstring)."""
    skip_unless_postgres_and_redis()
    started: list[tuple[Server, str]] = []

    def start(**extra_env: str) -> Server:
        tmp = tmp_path_factory.mktemp("uvicorn")
        prefix = key_prefix("ws")
        with django_db_blocker.unblock():
            env = server_env(prefix, tmp)
        env.update(MANY_REGISTRATIONS)
        env.update(extra_env)
        port = free_port()
        log_path = tmp / "uvicorn.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                server_command("uvicorn", port), cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = Server(kind="uvicorn", port=port, process=process, log_path=log_path)
        started.append((server, prefix))
        wait_until_ready(server, time.monotonic() + START_TIMEOUT_SECONDS)
        return server

    try:
        yield start
    finally:
        for server, prefix in started:
            stop_process(server.process)
            delete_keys(prefix)
