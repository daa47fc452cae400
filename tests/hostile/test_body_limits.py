"""Request bodies past their route's limit, against real uvicorn, daphne and gunicorn processes.

Issue 14: under uvicorn an unauthenticated 600 MiB body was spooled to disk whole before any check,
then answered 413. Now, under each server the project runs on:

- a declared Content-Length past the limit is answered 413 before the body is sent (the client
  sends the headers only, and reads the answer);
- a chunked body (no Content-Length) is cut off at the limit: the server answers 413 and closes
  the connection long before the client is done sending, and keeps no file of that size;
- a body within the limit still works, chunked too (gunicorn's Django used to read it as empty).

The servers run with small limits (API_MAX_BODY_BYTES 256 KiB, uploads 1 MiB) so the test sends
little; the code paths are those of the defaults.
"""

from __future__ import annotations

import json
import os
import select
import socket
import time
from pathlib import Path

import pytest

from tests.media.server import AppServer, app_server

pytestmark = pytest.mark.integration

KIB = 1024
MIB = 1024 * KIB
JSON_LIMIT = 256 * KIB
UPLOAD_CAP = 1 * MIB
THUMBNAIL_CAP = 64 * KIB
UPLOAD_LIMIT = UPLOAD_CAP + THUMBNAIL_CAP + 64 * KIB
# A chunked sender stops at this much if the server never says no: 64x the limit.
CHUNKED_GIVE_UP_BYTES = 64 * JSON_LIMIT * 4


@pytest.fixture(scope="module", params=["uvicorn", "daphne", "gunicorn"])
def server(request, tmp_path_factory):
    env = {
        "API_MAX_BODY_BYTES": str(JSON_LIMIT),
        "MEDIA_MAX_UPLOAD_BYTES": str(UPLOAD_CAP),
        "MEDIA_MAX_THUMBNAIL_BYTES": str(THUMBNAIL_CAP),
    }
    with app_server(request.param, tmp_path_factory.mktemp(request.param), extra_env=env) as running:
        yield running


def _port(server: AppServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _read_response(sock: socket.socket, timeout: float = 20) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, closed) of one response; `closed`: the server ended the connection."""
    sock.settimeout(timeout)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    closed = False
    try:
        sock.settimeout(5)
        closed = sock.recv(1) == b""  # EOF: the server closed (a reset counts too)
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        closed = False
    return status, headers, body, closed


def _headers(path: str, extra: str, server: AppServer, *, token: bool) -> bytes:
    auth = f"Authorization: Bearer {server.token}\r\n" if token else ""
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{extra}\r\n".encode()


def _assert_envelope(body: bytes, code: str) -> None:
    envelope = json.loads(body)
    assert envelope["code"] == code, envelope
    assert isinstance(envelope["detail"], str) and envelope["detail"]


@pytest.mark.parametrize("token", [False, True], ids=["anonymous", "signed-in"])
def test_a_declared_length_past_the_json_limit_is_413_before_the_body_is_sent(server, token):
    request = _headers(
        "/api/v1/messages/send",
        f"Content-Type: application/json\r\nContent-Length: {600 * MIB}\r\n",
        server,
        token=token,
    )
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=30) as sock:
        sock.sendall(request)  # headers only: not one byte of the 600 MiB
        status, headers, body, closed = _read_response(sock)
    assert status == 413, (status, body, server.log())
    assert headers["content-type"].startswith("application/json")
    _assert_envelope(body, "payload_too_large")
    assert closed, "the server kept the connection open, to read the rest"


def test_a_declared_length_past_the_upload_limit_is_413_before_the_body_is_sent(server):
    request = _headers(
        "/api/v1/media/upload",
        f"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {UPLOAD_LIMIT + 1}\r\n",
        server,
        token=True,
    )
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=30) as sock:
        sock.sendall(request)
        status, _, body, closed = _read_response(sock)
    assert status == 413, (status, body)
    _assert_envelope(body, "media_too_large")
    assert closed


def test_an_upload_within_the_limit_still_streams_through(server):
    """The upload route has its own, larger limit: a file at the cap is not a JSON-sized 413."""
    import httpx

    data = os.urandom(UPLOAD_CAP)
    response = httpx.post(
        f"{server.url}/api/v1/media/upload",
        files={"file": ("f.bin", data)},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text


def _send_chunked(sock: socket.socket, chunk_size: int = 64 * KIB) -> tuple[int, bool]:
    """Send a never-ending chunked body until the server answers or stops reading.

    Returns (bytes sent, whether the server answered while the body was still coming)."""
    payload = b"[" + b"0," * (chunk_size // 2)
    chunk = f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
    sent = 0
    sock.setblocking(False)
    try:
        while sent < CHUNKED_GIVE_UP_BYTES:
            readable, writable, _ = select.select([sock], [sock], [], 20)
            if readable:
                return sent, True
            if not writable:
                return sent, False  # the server stopped reading and said nothing for 20 s
            try:
                sent += sock.send(chunk)  # partial sends leave garbage framing: the server refuses first
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return sent, True
    finally:
        sock.setblocking(True)
    return sent, False


@pytest.mark.parametrize("token", [False, True], ids=["anonymous", "signed-in"])
def test_a_chunked_body_past_the_json_limit_is_cut_off(server, token):
    request = _headers(
        "/api/v1/messages/send",
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
        server,
        token=token,
    )
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=30) as sock:
        sock.sendall(request)
        sent, answered = _send_chunked(sock)
        assert answered, f"the server read {sent} bytes without answering:\n{server.log()}"
        try:
            status, _, body, closed = _read_response(sock)
        except ConnectionResetError:
            status, body, closed = None, b"", True
    # Cut off near the limit: what was sent past it sits in socket buffers, not in the server.
    assert sent < CHUNKED_GIVE_UP_BYTES // 4, sent
    assert closed
    if status is not None:
        assert status == 413, (status, body)
        _assert_envelope(body, "payload_too_large")
    _assert_no_big_files(server)


def _assert_no_big_files(server: AppServer) -> None:
    """Nothing past the limit was kept on disk (the spool folder and the media folder)."""
    work = server.log_path.parent
    for folder in (work / "tmp", work / "var"):
        for path in Path(folder).rglob("*"):
            if path.is_file() and path.suffix not in (".sqlite3", ".log"):
                assert path.stat().st_size <= UPLOAD_LIMIT, path


def test_a_chunked_body_within_the_limit_is_read(server):
    """Chunked bodies under the limit work, under gunicorn too (Django's WSGI request reads by
    Content-Length alone; the entry point now reads a chunked body itself, within the limit)."""
    body = json.dumps({"login": "nobody@example.com", "password": "x" * 20}).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    request = _headers(
        "/api/v1/auth/login",
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
        server,
        token=False,
    )
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=30) as sock:
        sock.sendall(request + chunked)
        status, _, answer, _ = _read_response(sock)
    # The body was read and judged (a wrong login), not refused as empty or malformed.
    assert status == 401, (status, answer)
    assert json.loads(answer)["code"] == "invalid_credentials"


def test_a_malformed_content_length_is_400(server):
    request = _headers(
        "/api/v1/auth/login", "Content-Type: application/json\r\nContent-Length: +12\r\n", server, token=False
    )
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=30) as sock:
        sock.sendall(request + b'{"login": 1}')
        try:
            status, _, _, _ = _read_response(sock)
        except ConnectionResetError:
            status = 400  # the server's own parser dropped it
    assert status == 400


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("", "not_authenticated"),
        ("Bearer not-a-token", "token_not_valid"),
        ("Bearer", "bad_authorization_header"),
    ],
    ids=["none", "bad-token", "malformed"],
)
def test_an_upload_without_a_valid_token_is_401_before_the_body_is_sent(server, authorization, code):
    """An anonymous client cannot make the server take in an upload (within the upload limit)
    just to be told 401: the token is checked on the headers, the body never read."""
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    request = (
        "POST /api/v1/media/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"{auth}Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {UPLOAD_CAP}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=30) as sock:
        sock.sendall(request)  # headers only
        status, headers, body, closed = _read_response(sock, timeout=10)
    assert status == 401, (status, body)
    assert headers["www-authenticate"].startswith("Bearer")
    _assert_envelope(body, code)
    assert closed


@pytest.mark.parametrize("incoming", [None, "proxy-id-0123456789abcdef"], ids=["made-here", "from-the-proxy"])
def test_a_refusal_carries_the_request_id_its_log_line_has(server, incoming):
    """The 413 is answered before Django's middleware, but like every other answer it names its
    request: the proxy's X-Request-ID when there is one, else a fresh id, the same on the
    refusal's log line, so an operator can find the one from the other."""
    extra = f"X-Request-ID: {incoming}\r\n" if incoming else ""
    request = _headers(
        "/api/v1/messages/send",
        f"Content-Type: application/json\r\nContent-Length: {600 * MIB}\r\n{extra}",
        server,
        token=False,
    )
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=30) as sock:
        sock.sendall(request)
        status, headers, body, _ = _read_response(sock)
    assert status == 413, (status, body)
    request_id = headers.get("x-request-id", "")
    if incoming:
        assert request_id == incoming, headers
    else:
        assert len(request_id) == 32 and int(request_id, 16) >= 0, headers
    deadline = time.monotonic() + 5
    while f"request_id={request_id}" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)  # the line is written as the answer goes out
    refusal_lines = [line for line in server.log().splitlines() if f"request_id={request_id}" in line]
    assert refusal_lines and "Refused a 629145600-byte body" in refusal_lines[0], server.log()
