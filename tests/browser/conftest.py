"""Browser tests (issue 18): Chromium, driven by Playwright, against the whole app in real mode.

Fixtures (use them in tests/browser/test_*.py; plain `def` tests, not async: Playwright's sync
API is used, and it refuses to run inside a running event loop):

- `messenger_app` -> MessengerApp: a fresh stack for the test, stopped after it:
  one uvicorn process serving the whole app as `make run` does (REST, /ws/, static files after
  a collectstatic, the web client at `/`), production settings (DEBUG off, JSON logs at INFO),
  on the test's PostgreSQL database and Redis with a key prefix of its own (cache, channel layer,
  relay, presence, the Celery queue), S3 on moto (a fresh bucket), and a real Celery worker with
  beat sending the emails into files. `messenger_app.url` is the server's origin (FRONTEND_URL
  too, so the links in emails point at it). Throttles on registration and login are raised (all
  browsers come from 127.0.0.1).
  - `messenger_app.wait_for_email(address)` -> the email.message.Message last sent to `address`;
    `messenger_app.wait_for_link(address, "/verify-email")` -> the first link in it on that path
    (the verification link; "/register" for an invitation), as an absolute URL on the server.
  - `messenger_app.assert_plaintexts_absent([...])`: the privacy proof (tests/browser/privacy.py:
    pg_dump of the database, every object in the bucket, every Redis key and value, the server's
    and the worker's logs and the emails); call it at the end of a test, while the stack runs.
  - `messenger_app.log_paths()`, `.server.log()`, `.worker.log()`: what to read when a step fails.
- `open_device` -> `open_device("alice")`: a new browser context (a device: its own storage,
  IndexedDB and cookies) with one page already at the server's `/`; `open_device("bob",
  viewport={"width": 390, "height": 844})` passes options to `browser.new_context`, `path=` opens
  another path. Every device is closed after the test; when the test fails, each open page is
  screenshotted first (`<test>-<device>-failure.png`). Each page's console and page errors go to
  `<tmp>/browser-<device>.log` (`messenger_app.tmp`).
- `screenshot` -> `screenshot(page, "chat-alice")`: a full-page PNG in SCREENSHOT_DIR (env;
  default a temporary directory, printed in the pytest header), returns its path.
- `browser` (package scope): the Chromium (Debian's /usr/bin/chromium, headless; CHROMIUM_PATH
  overrides) they run in.

Notes for the tests:
- The Django ORM works in these tests as in any other (the `browser` fixture allows it while
  Playwright's loop is up, see there): e.g. read a row the browser made.
- Taking a device offline: `page.context.set_offline(True)` makes fetch fail and fires the
  window's `offline` event, but Chromium keeps an already open WebSocket open and delivers what
  it sends once back online (tried on Chromium 156). A client that closes its socket on
  `offline` is offline for real; otherwise close the page and later open a new one in the same
  context (`page.context.new_page()`: same IndexedDB and storage, so the same device).
- Plaintexts for the privacy proof must be at least 12 bytes (privacy.MIN_PLAINTEXT_BYTES) and
  unique to the test (a uuid in each); an attachment's file name too, if the client encrypts it.

Data the browsers create is committed (the test uses `transactional_db`: the server is another
process) and removed after: the flush empties the tables, the bucket is deleted, the Redis keys
under the prefix and the Celery queue are deleted. The servers stop before the flush (a process
still writing would hold locks against its TRUNCATE).

Real mode only: without DATABASE_URL (PostgreSQL) and REDIS_URL, or without Chromium or the
playwright package, the browser tests skip; with BROWSER_TESTS_REQUIRED=1 (.ci/run) they fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.browser import privacy
from tests.notifications.worker import WorkerProcess, start_worker, text_of
from tests.realtime.real_server import MANY_REGISTRATIONS
from tests.s3 import S3Endpoint, free_port, stop_process
from tests.servers import (
    BASE_DIR,
    START_TIMEOUT_SECONDS,
    Server,
    database_url_of_the_test,
    delete_keys,
    server_env,
    start_server,
    wait_until_ready,
)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
EMAIL_TIMEOUT_SECONDS = 60.0
# Every browser registers and logs in from 127.0.0.1.
MANY_LOGINS = {"THROTTLE_LOGIN_IP": "1000/h", "THROTTLE_LOGIN_ACCOUNT": "1000/h"}


def browser_tests_required() -> bool:
    return os.environ.get("BROWSER_TESTS_REQUIRED") == "1"


def missing_for_browser_tests() -> list[str]:
    """What this machine or run lacks for the browser tests (empty: they can run)."""
    missing = []
    if settings.DATABASE_VENDOR != "postgresql" or not settings.REDIS_URL:
        missing.append(
            "real mode (DATABASE_URL on PostgreSQL and REDIS_URL): the server and worker processes "
            "share the test's database and Redis"
        )
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package (requirements-dev.txt)")
    return missing


def require_browser_stack() -> None:
    missing = missing_for_browser_tests()
    if not missing:
        return
    reason = "browser tests need " + "; ".join(missing)
    if browser_tests_required():
        pytest.fail(f"{reason} (BROWSER_TESTS_REQUIRED=1 makes them mandatory)", pytrace=False)
    pytest.skip(reason)


def screenshot_dir() -> Path:
    configured = os.environ.get("SCREENSHOT_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "messenger-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def report_header_line() -> str:
    """What the run's header says of the browser tests (tests/conftest.py prints it: a conftest
    below the test paths is loaded after the header is written)."""
    missing = missing_for_browser_tests()
    if not missing:
        return f"messenger: browser tests=Chromium {CHROMIUM}, screenshots in {screenshot_dir()}"
    outcome = "FAIL (BROWSER_TESTS_REQUIRED=1)" if browser_tests_required() else "skipped"
    return f"messenger: browser tests={outcome}: " + "; ".join(missing)


FAILED = pytest.StashKey[bool]()


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> None:
    # The device fixture's teardown reads whether the test failed, to screenshot its pages.
    if call.when == "call" and call.excinfo is not None:
        item.stash[FAILED] = True


@dataclass
class MessengerApp:
    server: Server
    worker: WorkerProcess
    s3: S3Endpoint
    bucket: str
    redis_prefix: str
    database_url: str
    tmp: Path
    extra_logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def log_paths(self) -> list[Path]:
        """The server's and the worker's logs (and any the test added to extra_logs)."""
        return [self.server.log_path, self.worker.log_path, *self.extra_logs]

    def mail_paths(self) -> list[Path]:
        return sorted(self.worker.mail_dir.glob("*"))

    def wait_for_email(self, address: str, *, count: int = 1) -> Message:
        """The last of the first `count` emails to `address` (waits for them)."""
        return self.worker.wait_for_messages_to(address, count=count, timeout=EMAIL_TIMEOUT_SECONDS)[-1]

    def wait_for_link(self, address: str, path: str, *, count: int = 1) -> str:
        """The first link to `path` on this server in the email to `address` (waits for it)."""
        text = text_of(self.wait_for_email(address, count=count))
        pattern = re.escape(self.url.rstrip("/") + path) + r"[^\s\"'<>]*"
        found = re.search(pattern, text)
        assert found, f"no link to {path} in the email to {address}:\n{text}"
        return found.group(0)

    def assert_plaintexts_absent(self, plaintexts: list[str | bytes]) -> None:
        """The privacy proof over everything this stack stores or logs (tests/browser/privacy.py)."""
        privacy.assert_plaintexts_absent(
            plaintexts,
            database_url=self.database_url,
            s3_client=self.s3.client(),
            buckets=[self.bucket],
            redis_url=settings.REDIS_URL,
            files=[*self.log_paths(), *self.mail_paths()],
        )


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VAR_DIR whose static/ holds `collectstatic`'s output (DEBUG off: whitenoise serves only
    collected files, as in production). Once per session: the files do not change during a run."""
    require_browser_stack()
    var_dir = tmp_path_factory.mktemp("browser-var")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "VAR_DIR": str(var_dir)}
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"collectstatic failed:\n{result.stdout}\n{result.stderr}"
    return var_dir


@pytest.fixture
def messenger_app(
    transactional_db: None,
    django_db_blocker: Any,
    s3_server: S3Endpoint,
    s3_bucket: str,
    collected_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MessengerApp]:
    """The whole app for one test (module docstring). Requested after transactional_db, so it
    is torn down (processes stopped, keys deleted) before the flush."""
    require_browser_stack()
    tmp = tmp_path_factory.mktemp("messenger-app")
    prefix = f"test-browser-{uuid.uuid4().hex[:12]}"
    queue = f"{prefix}:celery"
    port = free_port()
    with django_db_blocker.unblock():
        env = server_env(prefix, tmp)  # reads the test database's name, after its creation
        database_url = database_url_of_the_test()
    env.update(
        {
            **MANY_REGISTRATIONS,
            **MANY_LOGINS,
            **s3_server.env(s3_bucket),
            "VAR_DIR": str(collected_static),
            "REALTIME_PRESENCE_REDIS_PREFIX": f"{prefix}:presence",
            # Tasks go to this run's own queue on the broker, where only its worker reads.
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_BROKER_URL": settings.REDIS_URL,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "FRONTEND_URL": f"http://127.0.0.1:{port}",
            # django-environ drops the first slash of the path: "filemail:///" + "/abs/path".
            "EMAIL_URL": f"filemail:///{(tmp / 'mail').resolve()}",
            # What production logs: the privacy proof reads it.
            "LOG_LEVEL": "INFO",
        }
    )
    with contextlib.ExitStack() as stack:
        stack.callback(_delete_run_keys, prefix, queue)
        worker = stack.enter_context(contextlib.contextmanager(start_worker)(tmp, extra_env=env))
        server = start_server("uvicorn", env, tmp / "server.log", port=port)
        stack.callback(stop_process, server.process)
        wait_until_ready(server, time.monotonic() + START_TIMEOUT_SECONDS)
        yield MessengerApp(
            server=server,
            worker=worker,
            s3=s3_server,
            bucket=s3_bucket,
            redis_prefix=prefix,
            database_url=database_url,
            tmp=tmp,
        )


def _delete_run_keys(prefix: str, queue: str) -> None:
    import redis

    delete_keys(prefix)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        # kombu's bindings of the run's queue (the shared _kombu.binding_deadlines stays)
        client.delete(f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    finally:
        client.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), shared by the package's tests; each test opens its own
    contexts (`open_device`)."""
    require_browser_stack()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop marked running on this thread while it lives, so
    # Django takes every ORM call here (the tests' own, the transactional flush) for one made from
    # async code and refuses it. Nothing async runs on this thread between Playwright's calls: the
    # override is safe here, and it is what Playwright's documentation gives for Django.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                yield chromium
            finally:
                chromium.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """`screenshot(page, name)` -> SCREENSHOT_DIR/<name>.png, the whole page."""
    directory = screenshot_dir()

    def take(page: Any, name: str, *, full_page: bool = True) -> Path:
        path = directory / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture
def open_device(
    request: pytest.FixtureRequest, browser: Any, messenger_app: MessengerApp, screenshot: Callable[..., Path]
) -> Iterator[Callable[..., Any]]:
    """`open_device(name, path="/", **context_options)` -> a Playwright Page in a new browser
    context (a device of its own) at `messenger_app.url + path`."""
    opened: dict[str, Any] = {}

    def open_(name: str, *, path: str = "/", **context_options: Any) -> Any:
        if name in opened:
            raise ValueError(f"a device named {name!r} is already open in this test")
        context = browser.new_context(base_url=messenger_app.url, **context_options)
        page = context.new_page()
        console_log = messenger_app.tmp / f"browser-{name}.log"

        def write(line: str) -> None:
            with console_log.open("a", encoding="utf-8") as log:
                log.write(line + "\n")

        page.on("console", lambda message: write(f"console.{message.type}: {message.text}"))
        page.on("pageerror", lambda error: write(f"pageerror: {error}"))
        opened[name] = page
        page.goto(path)
        return page

    yield open_
    failed = request.node.stash.get(FAILED, False)
    for name, page in opened.items():
        with contextlib.suppress(Exception):  # a page already closed by the test
            if failed:
                screenshot(page, f"{request.node.name}-{name}-failure")
            page.context.close()
