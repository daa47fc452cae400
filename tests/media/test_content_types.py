"""What type a download goes out as (issue 14): the type comes from the bytes, never from a value
written inside the file, and only an allow-list of inert types is served as itself; everything
else is application/octet-stream, always as an attachment with nosniff. Through the real upload,
download and thumbnail endpoints, on local storage and on S3 (moto), where the object's stored
Content-Type and the presigned URL's are checked as the S3 server answers them."""

from __future__ import annotations

import io
import zipfile

import pytest

from media.models import Media
from tests.support.media import fetch, png_bytes, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("storage_kind")]

OCTET = "application/octet-stream"


def zip_declaring(mimetype: str) -> bytes:
    """A zip whose first, stored entry is `mimetype` (as EPUB and OpenDocument lay it out)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), mimetype)  # stored, uncompressed
        archive.writestr("index.html", "<script>alert(document.cookie)</script>")
    return out.getvalue()


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


def served(client, media_id: str, *, thumbnail: bool = False) -> list:
    """The file as a client gets it: the authenticated route (S3: its redirect, followed) and the
    short-lived URL from the metadata."""
    detail = client.get(f"/api/v1/media/{media_id}").json()
    if thumbnail:
        return [fetch(client, f"/api/v1/media/{media_id}/thumbnail"), fetch(client, detail["thumbnail_url"])]
    return [fetch(client, f"/api/v1/media/{media_id}/download"), fetch(client, detail["download_url"])]


def assert_served_as(downloads: list, content_type: str, body: bytes | None = None) -> None:
    for download in downloads:
        assert download.status == 200
        assert download.headers["Content-Type"] == content_type
        assert download.headers["Content-Disposition"].startswith("attachment;")
        if download.app is not None:  # the app's own answer (S3: the redirect) is nosniff too
            assert download.app["X-Content-Type-Options"] == "nosniff"
        if body is not None:
            assert download.body == body


# (The old sniffer copied the entry verbatim: "text/html" itself was caught by a deny-list, but
# "text/html;charset=utf-8" or "application/javascript" went out as themselves.)
@pytest.mark.parametrize(
    "declared", ["text/html", "text/html;charset=utf-8", "image/svg+xml", "application/javascript"]
)
def test_a_zip_that_declares_another_type_inside_is_a_zip_served_as_octet_stream(
    user_client, media_storage, declared
):
    data = zip_declaring(declared)
    assert data[30:38] == b"mimetype" and declared.encode() in data[38:80]
    body = upload(user_client, data, name="page.html").json()
    assert body["file_type"] == "application/zip"  # from the signature, not from the entry
    assert Media.objects.get(pk=body["id"]).file_type == "application/zip"
    assert_served_as(served(user_client, body["id"]), OCTET, data)
    if media_storage.kind == "s3":  # the object itself carries the safe type too
        key = Media.objects.get(pk=body["id"]).object_key
        assert media_storage.head(key)["ContentType"] == OCTET


@pytest.mark.parametrize(("data", "name"), [(HTML, "index.html"), (SVG, "logo.svg"), (HTML, "photo.png")])
def test_html_and_svg_are_octet_stream_stored_and_served(user_client, data, name):
    body = upload(user_client, data, name=name).json()
    assert body["file_type"] == OCTET
    assert body["thumbnail_url"] is None
    assert Media.objects.get(pk=body["id"]).file_type == OCTET
    assert_served_as(served(user_client, body["id"]), OCTET, data)
    assert user_client.get(f"/api/v1/media/{body['id']}/thumbnail").status_code == 404


def test_a_png_named_txt_is_a_png_with_a_thumbnail(user_client, django_capture_on_commit_callbacks):
    data = png_bytes(640, 480)
    with django_capture_on_commit_callbacks(execute=True):
        body = upload(user_client, data, name="notes.txt").json()
    assert body["file_type"] == "image/png" and body["file_name"] == "notes.txt"
    assert Media.objects.get(pk=body["id"]).file_type == "image/png"
    assert_served_as(served(user_client, body["id"]), "image/png", data)
    assert_served_as(served(user_client, body["id"], thumbnail=True), "image/jpeg")


@pytest.mark.parametrize(
    ("thumbnail", "stored", "content_type"),
    [(SVG, OCTET, OCTET), (HTML, OCTET, OCTET), (zip_declaring("text/html"), "application/zip", OCTET)],
)
def test_a_client_thumbnail_is_typed_and_served_by_the_same_rules(
    user_client, thumbnail, stored, content_type
):
    body = upload(user_client, b"\x00ciphertext", name="a.bin", thumbnail=thumbnail).json()
    assert Media.objects.get(pk=body["id"]).thumbnail_type == stored
    assert_served_as(served(user_client, body["id"], thumbnail=True), content_type, thumbnail)


def test_a_pdf_is_known_but_served_as_octet_stream(user_client):
    data = b"%PDF-1.7\n1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj\n"
    body = upload(user_client, data, name="doc.pdf").json()
    assert body["file_type"] == "application/pdf"  # the client learns what it is...
    assert_served_as(served(user_client, body["id"]), OCTET, data)  # ...the browser never renders it


@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_the_migration_retypes_what_the_old_sniffer_stored(user_client):
    """Rows typed by the old sniffer (text guessed, a zip's `mimetype` entry copied) are made
    what the detector says they can be; the metadata then matches what is served."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    ids = [upload(user_client, b"\x00bytes", name=f"{n}.bin").json()["id"] for n in range(5)]
    legacy = [
        ("text/html", ""),
        ("image/svg+xml", "text/html"),
        ("x-evil/<script>", ""),
        ("audio/wav", "image/jpeg"),
        ("image/png", "image/png"),
    ]
    for media_id, (file_type, thumbnail_type) in zip(ids, legacy, strict=True):
        Media.objects.filter(pk=media_id).update(file_type=file_type, thumbnail_type=thumbnail_type)

    migration = importlib.import_module("media.migrations.0004_normalise_sniffed_types")
    migration.normalise_types(apps, SimpleNamespace(connection=connection))

    after = [Media.objects.values_list("file_type", "thumbnail_type").get(pk=media_id) for media_id in ids]
    assert after == [
        (OCTET, ""),
        (OCTET, OCTET),
        (OCTET, ""),
        ("audio/x-wav", "image/jpeg"),
        ("image/png", "image/png"),
    ]
    assert user_client.get(f"/api/v1/media/{ids[0]}").json()["file_type"] == OCTET
