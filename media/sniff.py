"""The type of a file from its first bytes (magic numbers), never from the client's word for it,
nor from a value written inside the file.

Detection is the `filetype` package's (pure Python, a maintained set of fixed signatures, no
libmagic to install): `sniff` answers the type whose signature the bytes carry, or
`application/octet-stream` when none matches. No type is ever read out of the file itself: a zip
whose `mimetype` entry says `text/html` is `application/zip` (EPUB and OpenDocument are
recognised by comparing that entry with their own fixed value, never by taking it). Text of any
kind (plain text, HTML, SVG, XML, scripts) has no signature and is `application/octet-stream`:
telling them apart from bytes is the heuristic guessing that makes browsers' MIME sniffing
dangerous, and the server does not play it. Ciphertext from end-to-end-encrypting clients, most
of what is uploaded, is `application/octet-stream` too.

What the server *serves* is narrower: only SERVED_AS_ITSELF (inert types, which a browser can
display or play but which can run nothing) goes out with its own Content-Type; every other type,
known or not, goes out as `application/octet-stream`, always as an attachment with `nosniff`
(media.storage.served_content_type).
"""

from __future__ import annotations

import filetype

OCTET_STREAM = "application/octet-stream"

# How many leading bytes `sniff` looks at (all that `filetype` reads); the upload handler keeps
# this many.
SNIFF_BYTES = 8192

# Types the server decodes to make a thumbnail (Pillow); the rest are stored as they are.
THUMBNAILABLE_TYPES = frozenset(
    {"image/png", "image/apng", "image/jpeg", "image/gif", "image/webp", "image/bmp"}
)

# The allow-list of types served as themselves. Raster images, audio and the common video
# containers: decoded by media pipelines that run no code and read no other resource. Not in it,
# so served as application/octet-stream: HTML, SVG, XML and scripts (never detected anyway),
# PDF (a document format with JavaScript, forms and launch actions, rendered by the browser's
# own viewer when served as itself: a client that wants to show one reads `file_type` and hands
# the bytes to a viewer of its choosing), Flash, archives, office documents, executables, fonts.
SERVED_AS_ITSELF = frozenset(
    {
        "image/png",
        "image/apng",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "image/heic",
        "audio/aac",
        "audio/amr",
        "audio/midi",
        "audio/mp4",
        "audio/mpeg",
        "audio/ogg",
        "audio/x-aiff",
        "audio/x-flac",
        "audio/x-wav",
        "video/mp4",
        "video/quicktime",
        "video/webm",
    }
)


def sniff(head: bytes) -> str:
    """The MIME type of a file whose first bytes are `head` (at least SNIFF_BYTES when the file
    is that long): the type whose signature they carry, else application/octet-stream."""
    if not head:
        return OCTET_STREAM
    kind = filetype.guess(bytearray(head[:SNIFF_BYTES]))
    return kind.mime if kind is not None else OCTET_STREAM


def served_type(file_type: str) -> str:
    """The Content-Type a stored file goes out with: itself if on the allow-list, else
    application/octet-stream (rows stored under the old sniffer included)."""
    return file_type if file_type in SERVED_AS_ITSELF else OCTET_STREAM
