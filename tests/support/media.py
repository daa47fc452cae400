"""Media test helpers: the storage under test (local folder or S3 on moto), uploads, images.

A test using `media_storage` (every media test: tests/media/conftest.py) stores into its own
temporary folder. A module that adds `pytest.mark.usefixtures("storage_kind")` runs each of its
tests twice: `[local]` on the filesystem and `[s3]` on django-storages' S3Storage against moto's
server (tests/s3.py). Tests of other areas that upload name the fixture in their `pytestmark`.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


@pytest.fixture
def local_media_storage(settings, tmp_path):
    """Each test stores files under its own temporary folder (the S3 fixture overrides this)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


@dataclass(frozen=True)
class LocalStorage:
    root: Path
    kind: str = "local"

    def object_keys(self) -> set[str]:
        if not self.root.exists():
            return set()
        return {path.relative_to(self.root).as_posix() for path in self.root.rglob("*") if path.is_file()}

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


@pytest.fixture(params=["local", "s3"])
def storage_kind(request) -> str:
    return request.param


@pytest.fixture
def media_storage(request, local_media_storage):
    """The storage this test runs on, with `object_keys()`, `exists(key)`, `read(key)` that look at it
    directly (the folder, or boto3 on the bucket), not through the app's storage."""
    if "storage_kind" in request.fixturenames and request.getfixturevalue("storage_kind") == "s3":
        return request.getfixturevalue("s3_storage")
    return LocalStorage(local_media_storage)


@dataclass
class Fetched:
    """A download as a client sees it: `app` is the app's own response (the redirect in S3 mode)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    app: Any = field(default=None, repr=False)


def fetch(client, url: str) -> Fetched:
    """GET a `download_url` or an app route the way a client would: a presigned S3 URL (or the
    app's redirect to one) is fetched over real HTTP from the S3 server."""
    if url.startswith(("http://", "https://")):
        response = httpx.get(url, timeout=60)
        return Fetched(response.status_code, response.headers, response.content)
    app = client.get(url)
    if app.status_code == 302:
        response = httpx.get(app["Location"], timeout=60)
        return Fetched(response.status_code, response.headers, response.content, app=app)
    body = b"".join(app.streaming_content) if app.streaming else app.content
    return Fetched(app.status_code, app.headers, body, app=app)


def upload(client, data: bytes, name: str = "file.bin", **fields):
    payload = {"file": SimpleUploadedFile(name, data, content_type="application/x-client-claim")}
    for key, value in fields.items():
        payload[key] = SimpleUploadedFile(f"{key}.bin", value) if isinstance(value, bytes) else value
    return client.post("/api/v1/media/upload", payload, format="multipart")


def png_bytes(width: int = 64, height: int = 48, color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(side: int = 12_000) -> bytes:
    """A valid grayscale PNG of side x side black pixels: ~100 KiB on disk, side² bytes decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
