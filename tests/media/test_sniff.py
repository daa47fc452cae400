"""The type comes from the bytes."""

import pytest

from media.sniff import OCTET_STREAM, served_type, sniff
from tests.support.media import png_bytes

PAD = b"\x00" * 24  # real files go on past the signature


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "audio/x-wav"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + PAD, "video/mp4"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + PAD, "image/heic"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + PAD, "video/quicktime"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/epub+zipPK", "application/epub+zip"),
        (b"PK\x03\x04\x14\x00\x00\x00", "application/zip"),
        # The type written in a zip's `mimetype` entry is never taken: still a zip.
        (b"PK\x03\x04" + b"\x00" * 26 + b"mimetypetext/htmlPK\x03\x04" + PAD, "application/zip"),
        (b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeimage/svg+xmlPK\x03\x04" + PAD, "application/zip"),
        (
            b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webm",
            "video/webm",
        ),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis", "audio/ogg"),
        (b"ID3\x04\x00", "audio/mpeg"),
        (b"fLaC\x00", "audio/x-flac"),
        (b"\x1f\x8b\x08\x00", "application/gzip"),
        # Text of any kind has no signature: the server does not guess between text and markup.
        (b"hello, world\nsecond line\n", OCTET_STREAM),
        (b"<!DOCTYPE html><html><script>", OCTET_STREAM),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">', OCTET_STREAM),
        (b"<svg onload=alert(1)>", OCTET_STREAM),
        (b"alert(document.cookie)", OCTET_STREAM),
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


@pytest.mark.parametrize(
    ("file_type", "served"),
    [
        ("image/png", "image/png"),
        ("image/jpeg", "image/jpeg"),
        ("audio/mpeg", "audio/mpeg"),
        ("video/mp4", "video/mp4"),
        ("application/pdf", OCTET_STREAM),
        ("application/zip", OCTET_STREAM),
        ("application/x-shockwave-flash", OCTET_STREAM),
        # What the old sniffer could store (rows from before): never served as themselves.
        ("text/html", OCTET_STREAM),
        ("image/svg+xml", OCTET_STREAM),
        ("text/xml", OCTET_STREAM),
        ("text/plain", OCTET_STREAM),
        ("text/javascript", OCTET_STREAM),
        ("application/xhtml+xml", OCTET_STREAM),
    ],
)
def test_only_the_allow_list_is_served_as_itself(file_type, served):
    assert served_type(file_type) == served
