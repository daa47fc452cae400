"""What a real server process (gunicorn, as deploy/ runs REST) does with an upload's body: a
declared length past the cap is answered 413 before the body is sent; one under it streams."""

from __future__ import annotations

import hashlib
import json
import os
import socket

import httpx
import pytest

from tests.media.server import app_server

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
CAP = 8 * MIB


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    env = {"MEDIA_MAX_UPLOAD_BYTES": str(CAP), "MEDIA_MAX_THUMBNAIL_BYTES": str(MIB)}
    with app_server("gunicorn", tmp_path_factory.mktemp("gunicorn"), extra_env=env) as server:
        yield server


def multipart_head(boundary: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def test_declared_length_past_the_cap_is_413_before_the_body_is_sent(gunicorn):
    declared = 300 * MIB
    port = int(gunicorn.url.rsplit(":", 1)[1])
    request = (
        (
            "POST /api/v1/media/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {gunicorn.token}\r\n"
            "Content-Type: multipart/form-data; boundary=B\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        + multipart_head("B")
        + os.urandom(64 * 1024)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)  # 64 KiB of the 300 MiB; the rest is never sent
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), received[:500]
    assert json.loads(body)["code"] == "media_too_large"


def test_an_upload_under_the_cap_streams_through(gunicorn):
    data = os.urandom(6 * MIB)
    headers = {"Authorization": f"Bearer {gunicorn.token}"}
    response = httpx.post(
        f"{gunicorn.url}/api/v1/media/upload", files={"file": ("v.bin", data)}, headers=headers, timeout=60
    )
    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()
    download = httpx.get(gunicorn.url + response.json()["download_url"], timeout=60)
    assert download.status_code == 200 and download.content == data
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_past_the_cap_without_a_lie_is_413(gunicorn):
    headers = {"Authorization": f"Bearer {gunicorn.token}"}
    response = httpx.post(
        f"{gunicorn.url}/api/v1/media/upload",
        files={"file": ("v.bin", b"x" * (CAP + 1))},
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 413
    assert response.json()["code"] == "media_too_large"
