"""The type of a file from its first bytes (magic numbers), never from the client's word for it.

Covers what people send in a messenger: images, audio, video, documents, archives, text. Anything
else, ciphertext from end-to-end-encrypting clients included, is `application/octet-stream`.
"""

from __future__ import annotations

OCTET_STREAM = "application/octet-stream"

# How many leading bytes `sniff` looks at; the upload handler keeps this many.
SNIFF_BYTES = 4096

# Types the server decodes to make a thumbnail (Pillow); the rest are stored as they are.
THUMBNAILABLE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})

# A browser must never render these from our origin, even by mistake: served as octet-stream.
ACTIVE_CONTENT_TYPES = frozenset({"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml"})

_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (b"%PDF-", "application/pdf"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"BZh", "application/x-bzip2"),
    (b"\x28\xb5\x2f\xfd", "application/zstd"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
    (b"MThd", "audio/midi"),
    (b"#!AMR", "audio/amr"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"\x7fELF", "application/x-executable"),
    (b"\x00asm", "application/wasm"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
)

_RIFF_KINDS = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}

_FTYP_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"hevc": "image/heic-sequence",
    b"mif1": "image/heif",
    b"msf1": "image/heif-sequence",
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"qt  ": "video/quicktime",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3g2a": "video/3gpp2",
}

_OOXML = (
    (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)

_TEXT_CONTROL_OK = frozenset(b"\t\n\r\f\x1b")


def sniff(head: bytes) -> str:
    """The MIME type of a file whose first bytes are `head` (at least SNIFF_BYTES when the file
    is that long)."""
    if not head:
        return OCTET_STREAM
    for prefix, mime in _PREFIXES:
        if head.startswith(prefix):
            return mime
    if head[:4] == b"RIFF" and head[8:12] in _RIFF_KINDS:
        return _RIFF_KINDS[head[8:12]]
    if head[4:8] == b"ftyp" and len(head) >= 12:
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska or WebM
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"OggS"):
        return "video/ogg" if b"\x80theora" in head[:128] else "audio/ogg"
    if head.startswith(b"BM") and len(head) >= 18 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return "image/bmp"
    if head.startswith(b"MZ"):
        return "application/vnd.microsoft.portable-executable"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # An MPEG audio frame header: layer bits 00 are AAC in an ADTS stream, the rest MP3.
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    return _text_kind(head)


def _zip_kind(head: bytes) -> str:
    # EPUB and OpenDocument store an uncompressed "mimetype" entry first: the type, verbatim.
    if head[30:38] == b"mimetype":
        declared = head[38 : 38 + 100].split(b"PK", 1)[0]
        if declared and all(32 < byte < 127 for byte in declared):
            return declared.decode("ascii")
    if b"[Content_Types].xml" in head:
        for marker, mime in _OOXML:
            if marker in head:
                return mime
    return "application/zip"


def _text_kind(head: bytes) -> str:
    text = head.removeprefix(b"\xef\xbb\xbf")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The head may stop in the middle of a multi-byte character: that is still text.
        if exc.start < len(text) - 3:
            return OCTET_STREAM
        decoded = text[: exc.start].decode("utf-8")
    if any(ord(char) < 32 and ord(char) not in _TEXT_CONTROL_OK for char in decoded):
        return OCTET_STREAM
    start = decoded.lstrip()[:512].lower()
    if start.startswith(("<!doctype html", "<html")):
        return "text/html"
    if "<svg" in start and start.startswith(("<svg", "<?xml", "<!doctype svg")):
        return "image/svg+xml"
    if start.startswith("<?xml"):
        return "text/xml"
    return "text/plain"
