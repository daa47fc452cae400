"""Storage failing under the app: a clear 503 (or 404 for bytes that are gone), never a 500, and
nothing half-recorded."""

import hashlib

import httpx
import pytest

from media.models import Media
from tests.media.conftest import upload
from tests.s3 import free_port, s3_storages_setting

pytestmark = pytest.mark.django_db


def dead_endpoint(settings, s3_server, bucket: str) -> None:
    env = {**s3_server.env(bucket), "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    settings.STORAGES = {**settings.STORAGES, "default": s3_storages_setting(env)}


def test_upload_with_storage_down_is_503_and_records_nothing(user_client, settings, s3_server, s3_bucket):
    dead_endpoint(settings, s3_server, s3_bucket)
    response = upload(user_client, b"bytes with nowhere to go")
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert not Media.objects.exists()


def test_complete_with_storage_down_is_503_and_keeps_the_row(user_client, settings, s3_storage, s3_server):
    data = b"complete me later"
    payload = {"file_size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    body = user_client.post("/api/v1/media/upload/direct", payload, format="json").json()
    assert httpx.put(body["upload_url"], content=data, headers=body["upload_headers"]).status_code == 200
    dead_endpoint(settings, s3_server, s3_storage.bucket)
    response = user_client.post(body["complete_url"])
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert Media.objects.get(pk=body["id"]).state == Media.State.UPLOADING


def test_bytes_missing_from_disk_is_404_not_500(user_client, local_media_storage):
    body = upload(user_client, b"soon gone").json()
    (local_media_storage / Media.objects.get(pk=body["id"]).object_key).unlink()
    response = user_client.get(f"/api/v1/media/{body['id']}/download")
    assert response.status_code == 404
    assert response.json()["code"] == "media_not_found"
