"""Stored types from the old hand-kept sniffer made consistent with the new detector (issue 14).

The old sniffer typed text by guessing (text/plain, text/html, image/svg+xml, text/xml) and
copied a zip's `mimetype` entry verbatim, so a row may carry any string the uploader wrote. Every
`file_type` / `thumbnail_type` the new detector (filetype 1.2.0, frozen below so this migration
means the same later) cannot produce becomes application/octet-stream, except the few it only
spells differently. Serving was already safe for them (media.sniff.SERVED_AS_ITSELF is an
allow-list); this keeps the metadata clients read honest too.
"""

from django.db import migrations

OCTET_STREAM = "application/octet-stream"

RENAMED = {
    "audio/wav": "audio/x-wav",
    "audio/flac": "audio/x-flac",
    "image/vnd.microsoft.icon": "image/x-icon",
    "application/vnd.rar": "application/x-rar-compressed",
    "application/vnd.sqlite3": "application/x-sqlite3",
}

DETECTABLE = frozenset(
    {
        "application/dicom",
        "application/epub+zip",
        "application/font-sfnt",
        "application/font-woff",
        "application/gzip",
        "application/msword",
        "application/octet-stream",
        "application/pdf",
        "application/postscript",
        "application/rtf",
        "application/vnd.ms-cab-compressed",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.oasis.opendocument.presentation",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/wasm",
        "application/x-7z-compressed",
        "application/x-brotli",
        "application/x-bzip2",
        "application/x-compress",
        "application/x-deb",
        "application/x-executable",
        "application/x-google-chrome-extension",
        "application/x-lz4",
        "application/x-lzip",
        "application/x-lzop",
        "application/x-msdownload",
        "application/x-nintendo-nes-rom",
        "application/x-rar-compressed",
        "application/x-rpm",
        "application/x-shockwave-flash",
        "application/x-sqlite3",
        "application/x-tar",
        "application/x-unix-archive",
        "application/x-xz",
        "application/zip",
        "application/zstd",
        "audio/aac",
        "audio/amr",
        "audio/midi",
        "audio/mp4",
        "audio/mpeg",
        "audio/ogg",
        "audio/x-aiff",
        "audio/x-flac",
        "audio/x-wav",
        "image/apng",
        "image/avif",
        "image/bmp",
        "image/gif",
        "image/heic",
        "image/jpeg",
        "image/jpx",
        "image/png",
        "image/tiff",
        "image/vnd.adobe.photoshop",
        "image/vnd.dwg",
        "image/vnd.ms-photo",
        "image/webp",
        "image/x-canon-cr2",
        "image/x-icon",
        "image/x-xcf",
        "video/3gpp",
        "video/mp4",
        "video/mpeg",
        "video/quicktime",
        "video/webm",
        "video/x-flv",
        "video/x-m4v",
        "video/x-matroska",
        "video/x-ms-wmv",
        "video/x-msvideo",
    }
)


def normalise_types(apps, schema_editor):
    Media = apps.get_model("media", "Media")
    rows = Media.objects.using(schema_editor.connection.alias)
    for field in ("file_type", "thumbnail_type"):
        for old, new in RENAMED.items():
            rows.filter(**{field: old}).update(**{field: new})
        stale = rows.exclude(**{f"{field}__in": DETECTABLE})
        if field == "thumbnail_type":
            stale = stale.exclude(thumbnail_type="")  # no thumbnail
        stale.update(**{field: OCTET_STREAM})


class Migration(migrations.Migration):
    dependencies = [
        ("media", "0003_mediagrant_source_indexes"),
    ]

    operations = [
        migrations.RunPython(normalise_types, migrations.RunPython.noop, elidable=True),
    ]
