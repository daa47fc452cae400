"""Structured logs (issue 19): every line a request, a task or a socket frame logs carries its
request id (the proxy's, or one made here, echoed in X-Request-ID), the user id once known, and on
sockets the connection's and the frame's ids; one JSON object a line in real mode, readable text
in the embedded mode; and never a token, ticket, password, key or ciphertext.

The lines are captured by a handler built like settings.LOGGING's console handler (its formatter
and filters), on the root logger: what the process would write to its stderr.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings

from core.logging import JsonFormatter, RedactCredentials, RequestContext, TextFormatter
from tests.accounts.helpers import STRONG_PASSWORD
from tests.messaging.helpers import send_body

# Imported here, not in the test: importing the ASGI application runs django.setup(), whose
# logging configuration would drop a handler the test attached first.
from tests.realtime.test_gateway import next_frame_of, socket_for

Lines = Callable[[], list[dict]]


@contextmanager
def capture(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestContext())
    handler.addFilter(RedactCredentials())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


@pytest.fixture
def json_log() -> Iterator[Lines]:
    with capture(JsonFormatter()) as stream:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def text_log() -> Iterator[Callable[[], str]]:
    with capture(TextFormatter()) as stream:
        yield stream.getvalue


def test_the_console_handler_is_this_one():
    handler = settings.LOGGING["handlers"]["console"]
    assert handler["filters"] == ["context", "redact_credentials"]
    assert handler["formatter"] == settings.LOG_FORMAT


@pytest.mark.django_db
def test_a_requests_lines_carry_its_id_and_its_user_id(json_log, user_client, user):
    response = user_client.get(f"/api/v1/users/{user.pk}?fields=secret-query")
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32

    lines = [line for line in json_log() if line.get("request_id") == request_id]
    access = [line for line in lines if line["logger"] == "messenger.request"]
    assert len(access) == 1, json_log()
    assert access[0]["user_id"] == str(user.pk)
    assert access[0]["status"] == 200 and access[0]["message"] == f"GET /api/v1/users/{user.pk} 200"
    assert "secret-query" not in json.dumps(json_log())

    # Another request, another id; an anonymous one names no user.
    anonymous = user_client.__class__().get(f"/api/v1/users/{user.pk}")
    assert anonymous.status_code == 401
    other = [line for line in json_log() if line.get("request_id") == anonymous["X-Request-ID"]]
    assert other and anonymous["X-Request-ID"] != request_id
    assert all("user_id" not in line for line in other)


@pytest.mark.django_db
def test_the_proxys_request_id_is_honoured_and_a_malformed_one_replaced(json_log, client):
    honoured = client.get("/healthz", HTTP_X_REQUEST_ID="0f3a9c2b7d1e4f5a8b6c0d9e1f2a3b4c")
    assert honoured["X-Request-ID"] == "0f3a9c2b7d1e4f5a8b6c0d9e1f2a3b4c"
    assert any(line.get("request_id") == honoured["X-Request-ID"] for line in json_log())
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID='x" injected=1 \n next')
    assert replaced["X-Request-ID"] != 'x" injected=1 \n next' and len(replaced["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_readable_text_carries_the_ids_too(text_log, user_client, user):
    response = user_client.get(f"/api/v1/users/{user.pk}")
    line = next(line for line in text_log().splitlines() if " messenger.request " in line)
    assert line.endswith(f"[request_id={response['X-Request-ID']} user_id={user.pk}]"), line


@pytest.mark.django_db(transaction=True)
async def test_a_socket_frames_line_has_the_connection_id_and_its_own_id(json_log, user):
    first, second = await socket_for(user), await socket_for(user)
    try:
        for communicator in (first, second, first):
            await communicator.send_json_to({"type": "ping"})
            await next_frame_of(communicator, "pong")
    finally:
        await first.disconnect()
        await second.disconnect()
    frames = [line for line in json_log() if line["message"] == "frame 'ping'"]
    assert len(frames) == 3, json_log()
    assert all(line["user_id"] == str(user.pk) for line in frames)
    # One id per connection (the first socket's two frames share it), one per frame.
    assert frames[0]["connection_id"] == frames[2]["connection_id"] != frames[1]["connection_id"]
    assert len({line["frame_id"] for line in frames}) == 3


@pytest.mark.django_db(transaction=True)
def test_no_token_ticket_password_key_or_ciphertext_reaches_the_log(json_log, text_log, api_client):
    from rest_framework.test import APIClient

    password = STRONG_PASSWORD
    registered = api_client.post(
        "/api/v1/auth/register",
        {"email": "leak@example.com", "username": "leaky", "password": password},
        format="json",
    )
    assert registered.status_code == 201, registered.content
    access, refresh = registered.json()["access"], registered.json()["refresh"]
    assert api_client.post(
        "/api/v1/auth/login", {"login": "leaky", "password": "wrong-" + password}
    ).status_code
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    ticket = bearer.post("/api/v1/auth/ws-ticket").json()["ticket"]
    ciphertext = base64.b64encode(os.urandom(96)).decode()
    from accounts.models import User

    recipient = User.objects.create_user(username="leak_to", email="leak_to@example.com", password="x")
    body = {**send_body(recipient), "encrypted_content": ciphertext}
    bearer.post("/api/v1/messages/send", body, format="json")
    bearer.get(f"/api/v1/users/search?q={access}")
    # A library that logs what it was handed (a request line, a header, a body, an error):
    chatty = logging.getLogger("some.library")
    chatty.warning("GET /ws/?ticket=%s HTTP/1.1", ticket)
    chatty.warning("headers: {'Authorization': 'Bearer %s'}", access)
    chatty.warning("body: %s", json.dumps({"password": password, "refresh": refresh, **body}))
    chatty.warning("form: password=%s&login=leaky", password)
    try:
        raise ValueError(f"could not decode {ciphertext}")
    except ValueError:
        chatty.exception("failed")

    everything = json.dumps(json_log()) + text_log()
    assert "some.library" in everything  # the lines are there, redacted
    for secret in (access, refresh, ticket, password, ciphertext, ciphertext[:48], access.split(".")[1]):
        assert secret not in everything


@pytest.mark.integration
@pytest.mark.real_celery
@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_by_a_request_logs_under_the_requests_id(django_db_blocker, tmp_path, api_client):
    from tests.notifications.worker import skip_unless_real_services, start_worker

    skip_unless_real_services()
    with django_db_blocker.unblock():
        workers = start_worker(tmp_path, extra_env={"LOG_FORMAT": "json"})
        worker = next(workers)
    try:
        email = f"ids_{uuid.uuid4().hex[:8]}@example.com"
        response = api_client.post(
            "/api/v1/auth/register",
            {"email": email, "username": email.split("@")[0], "password": STRONG_PASSWORD},
            format="json",
        )
        assert response.status_code == 201, response.content
        request_id = response["X-Request-ID"]
        worker.wait_for_messages_to(email)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = [json.loads(line) for line in worker.log_text().splitlines() if line.startswith("{")]
            ran = [line for line in lines if line.get("request_id") == request_id]
            if any(
                "send_outbound_email" in line["message"] and "succeeded" in line["message"] for line in ran
            ):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no line of the task under {request_id}:\n{worker.log()}")
    finally:
        workers.close()


def test_log_format_defaults_to_json_in_real_mode_and_text_embedded():
    def log_format(**env: str) -> str:
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "LOG_FORMAT"))
        }
        code = "import django; django.setup(); from django.conf import settings; print(settings.LOG_FORMAT)"
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**base, "DJANGO_SETTINGS_MODULE": "messenger.settings", "DEBUG": "1", **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip()

    assert log_format() == "text"
    assert log_format(REDIS_URL="redis://127.0.0.1:1/0") == "json"
    assert log_format(REDIS_URL="redis://127.0.0.1:1/0", LOG_FORMAT="text") == "text"
