"""Media test helpers: local storage in a temporary folder, upload helpers, image makers."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


@pytest.fixture(autouse=True)
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
