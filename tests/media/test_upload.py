"""POST /media/upload: stored under a random key, hashed, sniffed, capped. Each test runs on
local storage and on S3 (moto)."""

import hashlib
import io
import os

import pytest
from django.core.files.storage import default_storage

from media.exceptions import MediaTooLarge
from media.models import Media
from media.uploads import MediaUploadHandler
from tests.support.media import fetch, png_bytes, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("storage_kind")]

MIB = 1024 * 1024


def test_12_mib_upload_downloads_byte_identical(user_client, media_storage):
    data = os.urandom(12 * MIB)
    response = upload(user_client, data, name="video.mp4")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["file_size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    [key] = media_storage.object_keys()  # read from the folder, or with boto3 from the bucket
    assert hashlib.sha256(media_storage.read(key)).hexdigest() == body["sha256"]
    # Through the short-lived download_url (S3: presigned, fetched over HTTP from the S3 server)...
    detail = user_client.get(f"/api/v1/media/{body['id']}").json()
    by_url = fetch(user_client, detail["download_url"])
    assert by_url.status == 200
    assert hashlib.sha256(by_url.body).hexdigest() == body["sha256"]
    # ...and through the authenticated route (S3: a redirect to a presigned URL).
    by_route = fetch(user_client, f"/api/v1/media/{body['id']}/download")
    assert by_route.status == 200
    assert hashlib.sha256(by_route.body).hexdigest() == body["sha256"]
    assert by_route.app["X-Content-Type-Options"] == "nosniff"


def test_upload_returns_media_with_checksum_and_sniffed_type(user_client, user):
    data = os.urandom(300_000)
    response = upload(user_client, data, name="secret-plans.bin")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "file_name",
        "file_type",
        "file_size",
        "sha256",
        "thumbnail_url",
        "download_url",
        "created_at",
    }
    assert body["file_name"] == "secret-plans.bin"
    assert body["file_size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["file_type"] == "application/octet-stream"
    assert body["thumbnail_url"] is None
    media = Media.objects.get(pk=body["id"])
    assert media.uploader_id == user.pk
    # The key is random, never the user's name; the stored bytes are the uploaded ones.
    assert "secret" not in media.object_key and "plans" not in media.object_key
    with default_storage.open(media.object_key, "rb") as stored:
        assert stored.read() == data


def test_png_named_txt_is_sniffed_as_png(user_client):
    response = upload(user_client, png_bytes(), name="notes.txt")
    assert response.status_code == 201
    assert response.json()["file_type"] == "image/png"
    assert response.json()["file_name"] == "notes.txt"


def test_file_name_field_is_kept_as_given(user_client):
    response = upload(user_client, b"ciphertext", name="blob", file_name='8f1c\u2603 opaque "name".enc')
    assert response.status_code == 201
    assert response.json()["file_name"] == '8f1c\u2603 opaque "name".enc'


def test_two_uploads_of_one_name_get_different_keys(user_client):
    first = upload(user_client, b"one", name="same.txt").json()
    second = upload(user_client, b"two", name="same.txt").json()
    keys = set(Media.objects.filter(pk__in=[first["id"], second["id"]]).values_list("object_key", flat=True))
    assert len(keys) == 2


def test_empty_file_is_400(user_client, media_storage):
    response = upload(user_client, b"", name="empty.txt")
    assert response.status_code == 400
    assert response.json()["errors"]["file"]
    assert not Media.objects.exists()
    assert media_storage.object_keys() == set()


def test_stored_object_type_is_the_sniffed_one_made_safe(user_client, media_storage):
    png = upload(user_client, png_bytes(), name="a.txt").json()
    html = upload(user_client, b"<!doctype html><script>alert(1)</script>", name="a.png").json()
    if media_storage.kind == "s3":  # S3 keeps a Content-Type per object: never the client's claim
        keys = dict(Media.objects.values_list("pk", "object_key"))
        assert media_storage.head(keys[Media.objects.get(pk=png["id"]).pk])["ContentType"] == "image/png"
        stored_html = media_storage.head(keys[Media.objects.get(pk=html["id"]).pk])
        assert stored_html["ContentType"] == "application/octet-stream"
    assert (png["file_type"], html["file_type"]) == ("image/png", "application/octet-stream")


def test_missing_file_is_400(user_client):
    response = user_client.post("/api/v1/media/upload", {"file_name": "x"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["errors"]


def test_unexpected_file_field_is_400(user_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = user_client.post(
        "/api/v1/media/upload",
        {"file": SimpleUploadedFile("a", b"a"), "other": SimpleUploadedFile("b", b"b")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_upload"


def test_json_body_is_415(user_client):
    response = user_client.post("/api/v1/media/upload", {"file": "x"}, format="json")
    assert response.status_code == 415


def test_over_the_cap_is_413_and_stores_nothing(user_client, settings, media_storage):
    settings.MEDIA_MAX_UPLOAD_BYTES = 1000
    response = upload(user_client, b"x" * 1001)
    assert response.status_code == 413
    assert response.json()["code"] == "media_too_large"
    assert not Media.objects.exists()
    assert media_storage.object_keys() == set()
    assert upload(user_client, b"x" * 1000).status_code == 201
    assert len(media_storage.object_keys()) == 1


def test_declared_length_over_the_cap_is_refused_before_reading_the_body(settings):
    settings.MEDIA_MAX_UPLOAD_BYTES = 1000
    settings.MEDIA_MAX_THUMBNAIL_BYTES = 100

    class Unreadable(io.RawIOBase):
        def read(self, *args):
            raise AssertionError("the body was read")

    handler = MediaUploadHandler(limits={"file": 1000, "thumbnail": 100})
    with pytest.raises(MediaTooLarge):
        handler.handle_raw_input(Unreadable(), {}, 10 * 1024 * 1024, b"boundary")


def test_declared_length_over_the_cap_is_413_through_the_api(user_client, settings):
    settings.MEDIA_MAX_UPLOAD_BYTES = 1000
    settings.MEDIA_MAX_THUMBNAIL_BYTES = 100
    response = upload(user_client, b"x" * 200_000)
    assert response.status_code == 413


def test_thumbnail_over_its_cap_is_413(user_client, settings, media_storage):
    settings.MEDIA_MAX_THUMBNAIL_BYTES = 10
    response = upload(user_client, b"payload", thumbnail=b"t" * 11)
    assert response.status_code == 413
    # On S3 the file was already stored as it streamed in, before the thumbnail: deleted again.
    assert media_storage.object_keys() == set()


def test_client_thumbnail_is_stored_and_served(user_client):
    response = upload(user_client, b"encrypted video", thumbnail=b"encrypted thumbnail")
    assert response.status_code == 201
    thumbnail_url = response.json()["thumbnail_url"]
    assert thumbnail_url == f"/api/v1/media/{response.json()['id']}/thumbnail"
    served = fetch(user_client, thumbnail_url)
    assert served.status == 200
    assert served.body == b"encrypted thumbnail"


def test_file_name_too_long_is_400(user_client, media_storage):
    response = upload(user_client, b"x", file_name="n" * 256)
    assert response.status_code == 400
    assert "file_name" in response.json()["errors"]
    assert media_storage.object_keys() == set()  # a streamed file is deleted with the refusal


def test_a_file_cut_off_past_its_cap_after_parts_went_to_storage_leaves_nothing(
    user_client, settings, media_storage
):
    """On S3 the first 8 MiB part is sent while the rest still arrives; the cap is crossed after
    it: the multipart upload is aborted (an unfinished one would be kept, and billed)."""
    settings.MEDIA_MAX_UPLOAD_BYTES = 9 * MIB
    response = upload(user_client, os.urandom(10 * MIB))
    assert response.status_code == 413
    assert not Media.objects.exists()
    assert media_storage.object_keys() == set()
    if media_storage.kind == "s3":
        client = media_storage.endpoint.client()
        assert client.list_multipart_uploads(Bucket=media_storage.bucket).get("Uploads", []) == []


def test_upload_needs_authentication(api_client):
    response = upload(api_client, b"x")
    assert response.status_code == 401


def raw_multipart(client, body: bytes, content_type: str = "multipart/form-data; boundary=XYZ"):
    return client.generic("POST", "/api/v1/media/upload", body, content_type=content_type)


def test_multipart_without_a_boundary_is_400(user_client):
    response = raw_multipart(user_client, b"--XYZ\r\n", content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_garbage_multipart_body_is_400(user_client):
    response = raw_multipart(user_client, os.urandom(5000))
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_file_sent_as_a_text_field_is_400(user_client):
    response = user_client.post("/api/v1/media/upload", {"file": "just text"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["errors"]


def test_form_urlencoded_body_is_415(user_client):
    response = user_client.generic(
        "POST", "/api/v1/media/upload", b"file=abc", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "name",
    [
        "a\x00b.txt",
        "\u202egnp.exe",  # right-to-left override
        "../../etc/passwd",
        "n" * 1000 + ".txt",
        "\ud800.txt".encode("utf-8", "surrogatepass").decode("latin-1"),
    ],
)
def test_hostile_multipart_file_names_never_500(user_client, media_storage, name):
    body = (
        b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="'
        + name.encode("utf-8", "surrogatepass")
        + b'"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XYZ--\r\n'
    )
    response = raw_multipart(user_client, body)
    assert response.status_code in {201, 400}, response.content
    if response.status_code == 201:
        stored_name = response.json()["file_name"]
        assert "\x00" not in stored_name and "/" not in stored_name and len(stored_name) <= 255
        downloaded = fetch(user_client, f"/api/v1/media/{response.json()['id']}/download")
        assert downloaded.body == b"hello"
        assert "\n" not in downloaded.headers["Content-Disposition"]
    else:
        assert media_storage.object_keys() == set()


def test_file_name_field_with_nul_is_400(user_client):
    response = upload(user_client, b"x", file_name="a\x00b")
    assert response.status_code == 400
    assert "file_name" in response.json()["errors"]


def test_two_files_in_the_file_field_are_400(user_client, media_storage):
    body = (
        b"".join(
            b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="f%d"\r\n\r\ndata%d\r\n' % (n, n)
            for n in range(2)
        )
        + b"--XYZ--\r\n"
    )
    response = raw_multipart(user_client, body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_upload"
    assert media_storage.object_keys() == set()


def test_too_many_form_fields_is_400(user_client, media_storage):
    fields = b"".join(
        b'--XYZ\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % n for n in range(1100)
    )
    response = raw_multipart(user_client, fields + b"--XYZ--\r\n")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_upload"
    assert media_storage.object_keys() == set()


def test_huge_text_field_is_413(user_client, settings):
    # Text fields are held in memory: past DATA_UPLOAD_MAX_MEMORY_SIZE (a JSON body's limit) a 413.
    body = (
        b'--XYZ\r\nContent-Disposition: form-data; name="file_name"\r\n\r\n'
        + b"n" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + MIB)
        + b"\r\n--XYZ--\r\n"
    )
    response = raw_multipart(user_client, body)
    assert response.status_code == 413
