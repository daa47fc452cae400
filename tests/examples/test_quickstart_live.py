"""The README's first hour, for real (issue 16): `make run` on a free loopback port with nothing
configured, examples/quickstart.py against it, the verification link from the console email,
`make demo`, and the admin showing the demo data; then the server's log has no warning in it.

The server is a process of its own in the embedded mode (a SQLite file in a temporary VAR_DIR,
in-memory layers), whatever mode the test run itself uses: this is the fresh clone's experience.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.examples.helpers import ROOT, make
from tests.notifications.broker import closed_port

pytestmark = pytest.mark.integration

# What a newcomer's shell does not have: the test run's own configuration.
NOT_INHERITED = (
    "DATABASE_",
    "REDIS_",
    "CELERY_",
    "S3_",
    "EMAIL_",
    "CACHE_",
    "CHANNEL_",
    "RELAY_",
    "REALTIME_",
    "TEST_",
    "CI_",
    "DJANGO_",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DEBUG",
    "FRONTEND_URL",
    "HOST",
    "PORT",
    "VAR_DIR",
    # An outer make (`make test`) exports its flags and level; this make is a fresh one.
    "MAKEFLAGS",
    "MAKELEVEL",
    "MFLAGS",
)


# What a warning looks like in the log: a WARNING level (logging, uvicorn, celery), a warnings
# category ("RuntimeWarning: ..."), a deprecation, a traceback. Case matters: the log also carries
# random tokens (verification links, access log URLs), and "warn" in any case turns up in one
# about once in 300 runs.
NOISE = re.compile(r"WARNING|Warning\b|[Dd]eprecat|Traceback")


def noise(log: str) -> list[str]:
    return [line for line in log.splitlines() if NOISE.search(line)]


def fresh_shell_env(var_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(NOT_INHERITED)}
    env.update({"VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"})
    return env


def readme_block(*, start: str, end: str) -> str:
    """The README's lines from the one starting with `start` to the one starting with `end`."""
    lines = (ROOT / "README.md").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next(i for i, line in enumerate(lines) if i > first and line.startswith(end))
    return "\n".join(lines[first : last + 1])


# A loaded machine (2 cores shared with other test runs) can take long to install nothing,
# migrate a fresh SQLite database and import Django: generous, since a slow start is not the
# failure this test looks for; a server that exits or never answers still fails it.
START_SECONDS = 180
HTTP_TIMEOUT = 60
# The port is free when chosen and taken by uvicorn seconds later (make, then migrate): another
# process may bind it in between. Only that is retried, on a new port; any other exit fails.
PORT_ATTEMPTS = 3
PORT_TAKEN = "address already in use"


class Server:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = fresh_shell_env(tmp / "var")
        self.process: subprocess.Popen | None = None
        self._use_port(closed_port())

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = self.tmp / f"make-run-{port}.log"

    def start(self) -> None:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            if self._start_once():
                return
            if attempt < PORT_ATTEMPTS:
                self._use_port(closed_port())
        raise AssertionError(f"make run found its port taken {PORT_ATTEMPTS} times:\n{self.log()}")

    def _start_once(self) -> bool:
        """True once this server answers; False if its port was taken before uvicorn bound it."""
        with self.log_path.open("wb") as log:
            # A session of its own: make, then uvicorn under it, are stopped together.
            self.process = subprocess.Popen(
                make("run", port=self.port),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # uvicorn's line, printed once it listens: until then a 200 on the port is someone else's.
        listening = f"Uvicorn running on {self.url}"
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if PORT_TAKEN in self.log().lower():
                    return False
                raise AssertionError(f"make run exited:\n{self.log()}")
            if listening in self.log():
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"make run did not serve within {START_SECONDS} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def run_client(args: list[str], server: Server, timeout: float = 120) -> subprocess.CompletedProcess:
    """A client of the server in a session of its own: on a timeout the whole group is killed
    (the curl block's background listener too, which would otherwise hold the output pipe open)
    and the test fails with what it printed, rather than a bare TimeoutExpired."""
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{args[:2]} did not finish within {timeout} s:\n{stdout}\n{stderr}\n{server.log()}"
        ) from None
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def test_make_run_then_the_quickstart_and_make_demo(server: Server) -> None:
    # The quickstart, as the README runs it.
    quickstart = run_client([sys.executable, "examples/quickstart.py", "--url", server.url], server)
    assert quickstart.returncode == 0, quickstart.stdout + quickstart.stderr + server.log()
    assert "decrypted it: 'Hello, Bob! Only you can read this.'" in quickstart.stdout

    # The README's curl quick start, pasted into bash as is (only the port differs).
    curl_block = readme_block(start="API=http://127.0.0.1:8000/api/v1; JSON=", end="wait")
    pasted = run_client(
        ["bash", "-e", "-c", curl_block.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")], server
    )
    assert pasted.returncode == 0, pasted.stdout + pasted.stderr
    # A frame may land right after curl's answer, before its `echo` ends the line: the socket's
    # event and the REST answer leave the server at nearly the same moment.
    decoder = json.JSONDecoder()
    frames = [
        decoder.raw_decode('{"type"' + piece)[0]
        for line in pasted.stdout.splitlines()
        for piece in line.split('{"type"')[1:]
    ]
    assert [frame["type"] for frame in frames] == ["hello", "message.new"], pasted.stdout
    assert frames[1]["data"]["encrypted_content"] == base64.b64encode(b"ciphertext").decode()

    # The registrations' verification emails went to the console, linking to this server's port
    # at the web client's page (whose script verifies on a click: tests/browser).
    links = re.findall(r"http://\S+/verify-email\?token=\S+", server.log())
    assert links, server.log()
    link = urlsplit(links[0])
    assert link.netloc == f"127.0.0.1:{server.port}"
    page = httpx.get(f"{server.url}{link.path}?{link.query}", timeout=HTTP_TIMEOUT)
    assert page.status_code == 200 and '<script type="module" src="/static/webclient/app.js">' in page.text

    # Static files through whitenoise (the admin's, the web client's), and the API docs.
    assert httpx.get(f"{server.url}/static/admin/css/base.css", timeout=HTTP_TIMEOUT).status_code == 200
    assert httpx.get(f"{server.url}/static/webclient/app.js", timeout=HTTP_TIMEOUT).status_code == 200
    assert httpx.get(f"{server.url}/api/docs/", timeout=HTTP_TIMEOUT).status_code == 200

    # make demo on the same database, then the admin shows it.
    demo = subprocess.run(
        make("demo", port=server.port), cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=180
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    found = re.search(r"password for all: (\S+)\)", demo.stdout)
    assert found, demo.stdout
    password = found.group(1)
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as browser:
        form = browser.get("/admin/login/")
        csrf_field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert csrf_field, form.text
        csrf = csrf_field.group(1)
        logged_in = browser.post(
            "/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": csrf, "username": "demo_admin", "password": password},
            headers={"Referer": f"{server.url}/admin/login/"},
        )
        assert logged_in.status_code == 302, logged_in.text[:2000]
        users = browser.get("/admin/accounts/user/")
        assert users.status_code == 200
        assert "demo_alice" in users.text and "demo_carol" in users.text

    server.stop()
    log = server.log()
    assert "make: applying migrations" in log and "make: serving" in log
    assert noise(log) == [], "\n".join(noise(log))


def test_the_noise_filter_catches_warnings_and_not_tokens() -> None:
    warnings = [
        "2026-12-06 10:58:07,957 WARNING accounts.services Spent refresh token presented again",
        "WARNING:  Invalid HTTP request received.",
        "/x/y.py:3: RuntimeWarning: coroutine 'f' was never awaited",
        "SecurityWarning: You're running the worker with superuser privileges",
        "django.utils.deprecation.RemovedInDjango60Warning: ...",
        "Traceback (most recent call last):",
    ]
    assert noise("\n".join(warnings)) == warnings
    tokens = (
        'INFO:     127.0.0.1:5 - "GET /verify-email?token=eyJ1IjoiZWarnQ:1v2x:Qwarn8 HTTP/1.1" 200 OK\n'
        "To confirm your address, enter this code: eyJ1IjoiDEPwarnf-Traceb:1v2x:abc"
    )
    assert noise(tokens) == []
