"""Direct-to-storage uploads (S3 mode): announce, PUT to a presigned URL, "complete" checks the
size and SHA-256 of what was stored. Against moto's server over real HTTP. moto does not verify
SigV4 signatures or x-amz-checksum-sha256 against the body (S3 and MinIO do): the server's own
checks at "complete" are what these tests prove."""

import base64
import hashlib
import os
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.utils import timezone

from media.exceptions import MediaNotOwned
from media.models import Media
from media.services import grant_media_access, media_purge_unattached
from tests.support.media import fetch, png_bytes

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def start(client, data: bytes, **fields):
    payload = {"file_size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **fields}
    return client.post("/api/v1/media/upload/direct", payload, format="json")


def put(body, data: bytes) -> httpx.Response:
    return httpx.put(body["upload_url"], content=data, headers=body["upload_headers"], timeout=60)


def test_round_trip(user_client, other_user, client_for, s3_storage, django_capture_on_commit_callbacks):
    data = png_bytes(900, 600)
    response = start(user_client, data, file_name="holiday.txt")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "upload_url", "upload_method", "upload_headers", "expires_in", "complete_url"}
    assert body["upload_method"] == "PUT" and body["expires_in"] == 3600
    assert body["complete_url"] == f"/api/v1/media/{body['id']}/complete"
    # The length, the type and the checksum are signed into the URL: S3 refuses any other.
    query = parse_qs(urlsplit(body["upload_url"]).query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host;x-amz-checksum-sha256"]
    assert body["upload_headers"] == {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(data)),
        "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }
    # Until complete, the media is nobody's to see or attach.
    assert user_client.get(f"/api/v1/media/{body['id']}").status_code == 404
    with pytest.raises(MediaNotOwned):
        grant_media_access(media_ids=[body["id"]], owner_id=user_client.user.pk, grantee_ids=[other_user.pk])

    assert put(body, data).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):  # the thumbnail task, eagerly
        completed = user_client.post(body["complete_url"])
    assert completed.status_code == 200, completed.content
    media = completed.json()
    assert media["id"] == body["id"]
    assert (media["file_name"], media["file_type"], media["file_size"]) == (
        "holiday.txt",
        "image/png",
        len(data),
    )
    assert media["sha256"] == hashlib.sha256(data).hexdigest()
    assert media["thumbnail_url"] is None  # the task runs after the answer
    assert fetch(user_client, media["download_url"]).body == data
    detail = user_client.get(f"/api/v1/media/{body['id']}")
    assert detail.status_code == 200
    assert detail.json()["thumbnail_url"] == f"/api/v1/media/{body['id']}/thumbnail"
    assert fetch(user_client, detail.json()["thumbnail_url"]).headers["Content-Type"] == "image/jpeg"
    # A retried "complete" answers the same media; an outsider still sees nothing.
    again = user_client.post(body["complete_url"])
    assert again.status_code == 200 and again.json()["sha256"] == media["sha256"]
    assert client_for(other_user).get(f"/api/v1/media/{body['id']}").status_code == 404
    grant_media_access(media_ids=[body["id"]], owner_id=user_client.user.pk, grantee_ids=[other_user.pk])
    assert fetch(client_for(other_user), f"/api/v1/media/{body['id']}/download").body == data


def test_twelve_mib_direct_upload_is_byte_identical(user_client, s3_storage):
    data = os.urandom(12 * MIB)
    body = start(user_client, data).json()
    assert put(body, data).status_code == 200
    media = user_client.post(body["complete_url"]).json()
    assert media["file_type"] == "application/octet-stream" and media["file_name"] == "file"
    assert hashlib.sha256(fetch(user_client, media["download_url"]).body).hexdigest() == media["sha256"]


def test_complete_before_the_put_is_400_and_can_be_retried(user_client, s3_storage):
    data = b"late bytes"
    body = start(user_client, data).json()
    response = user_client.post(body["complete_url"])
    assert response.status_code == 400
    assert response.json()["code"] == "upload_incomplete"
    assert put(body, data).status_code == 200
    assert user_client.post(body["complete_url"]).status_code == 200


def test_other_bytes_are_refused_and_removed(user_client, s3_storage):
    data = os.urandom(4096)
    body = start(user_client, data).json()
    forged = bytes(4096)  # same length, other bytes (S3 and MinIO would already refuse the PUT)
    assert put(body, forged).status_code == 200  # moto does not check x-amz-checksum-sha256
    response = user_client.post(body["complete_url"])
    assert response.status_code == 400
    assert response.json()["code"] == "upload_incomplete"
    assert list(response.json()["errors"]) == ["sha256"]
    assert s3_storage.object_keys() == set()  # the wrong object is gone
    assert Media.objects.get(pk=body["id"]).state == Media.State.UPLOADING
    assert put(body, data).status_code == 200  # the URL still works: try again
    assert user_client.post(body["complete_url"]).status_code == 200


def test_another_length_is_refused(user_client, s3_storage):
    data = os.urandom(1000)
    body = start(user_client, data).json()
    headers = {**body["upload_headers"], "Content-Length": "999"}
    assert httpx.put(body["upload_url"], content=data[:999], headers=headers).status_code == 200
    response = user_client.post(body["complete_url"])
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["file_size"]
    assert s3_storage.object_keys() == set()


def test_only_the_uploader_completes_or_deletes(user_client, client_for, other_user, s3_storage):
    data = b"mine"
    body = start(user_client, data).json()
    put(body, data)
    outsider = client_for(other_user)
    assert outsider.post(body["complete_url"]).status_code == 404
    assert outsider.delete(f"/api/v1/media/{body['id']}").status_code == 404
    assert user_client.post(f"/api/v1/media/{uuid.uuid4()}/complete").status_code == 404
    assert user_client.post("/api/v1/media/not-a-uuid/complete").status_code == 404


def test_uploader_abandons_a_pending_upload(user_client, s3_storage, django_capture_on_commit_callbacks):
    data = b"abandoned"
    body = start(user_client, data).json()
    put(body, data)
    with django_capture_on_commit_callbacks(execute=True):
        assert user_client.delete(f"/api/v1/media/{body['id']}").status_code == 204
    assert not Media.objects.exists()
    assert s3_storage.object_keys() == set()


def test_never_completed_uploads_are_purged(user_client, s3_storage, django_capture_on_commit_callbacks):
    data = b"forgotten"
    body = start(user_client, data).json()
    put(body, data)
    Media.objects.filter(pk=body["id"]).update(created_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert media_purge_unattached() == 1
    assert s3_storage.object_keys() == set()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sha256": "0" * 64}, "file_size"),
        ({"file_size": 0, "sha256": "0" * 64}, "file_size"),
        ({"file_size": -5, "sha256": "0" * 64}, "file_size"),
        ({"file_size": "many", "sha256": "0" * 64}, "file_size"),
        ({"file_size": 10}, "sha256"),
        ({"file_size": 10, "sha256": "g" * 64}, "sha256"),
        ({"file_size": 10, "sha256": "0" * 64, "file_name": "n" * 256}, "file_name"),
        ({"file_size": 10, "sha256": "0" * 64, "file_name": "a\x00b"}, "file_name"),
    ],
)
def test_bad_announcements_are_400(user_client, s3_storage, payload, field):
    response = user_client.post("/api/v1/media/upload/direct", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Media.objects.exists()


def test_over_the_cap_is_413(user_client, s3_storage, settings):
    settings.MEDIA_MAX_UPLOAD_BYTES = 1000
    response = user_client.post(
        "/api/v1/media/upload/direct", {"file_size": 1001, "sha256": "0" * 64}, format="json"
    )
    assert response.status_code == 413
    assert response.json()["code"] == "media_too_large"
    assert not Media.objects.exists()


def test_local_storage_has_no_direct_uploads(user_client):
    response = start(user_client, b"bytes")
    assert response.status_code == 400
    assert response.json()["code"] == "direct_upload_unavailable"
    assert not Media.objects.exists()


def test_needs_authentication(api_client, s3_storage):
    assert start(api_client, b"x").status_code == 401
