"""The type comes from the bytes."""

import pytest

from media.sniff import OCTET_STREAM, sniff
from tests.media.conftest import png_bytes


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "video/mp4"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/epub+zipPK", "application/epub+zip"),
        (
            b"PK\x03\x04\x14\x00[Content_Types].xml....word/document.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (b"PK\x03\x04\x14\x00\x00\x00", "application/zip"),
        (
            b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webm",
            "video/webm",
        ),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis", "audio/ogg"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64", "audio/mpeg"),
        (b"\xff\xf1\x50\x80", "audio/aac"),
        (b"fLaC\x00", "audio/flac"),
        (b"\x1f\x8b\x08\x00", "application/gzip"),
        (b"hello, world\nsecond line\n", "text/plain"),
        ("caf\u00e9 na\u00efve".encode() + "\u00e9".encode()[:1], "text/plain"),  # cut mid-character
        (b"<!DOCTYPE html><html><script>", "text/html"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">', "image/svg+xml"),
        (bytes(range(256)), OCTET_STREAM),
        (b"", OCTET_STREAM),
    ],
)
def test_sniff_by_magic_number(head, expected):
    assert sniff(head) == expected


def test_png_is_png_whatever_it_is_called():
    assert sniff(png_bytes()[:4096]) == "image/png"


def test_random_ciphertext_is_octet_stream():
    import os

    # Ciphertext from an E2EE client: no magic. (Retry on the rare random head that looks like one.)
    samples = [sniff(os.urandom(4096)) for _ in range(20)]
    assert samples.count(OCTET_STREAM) >= 18
