"""core.storage.S3Storage, as settings.py configures it, against moto's S3 server:
/readyz probes it, presigned URLs may name a public endpoint, spooled uploads go by path."""

import hashlib

import httpx
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile

from tests.s3 import free_port, s3_storages_setting

pytestmark = pytest.mark.django_db


def test_readyz_checks_storage_when_s3_is_configured(client, s3_storage):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["storage"] is True


def test_readyz_names_storage_when_its_endpoint_is_dead(client, settings, s3_server, s3_bucket):
    dead = {**s3_server.env(s3_bucket), "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    settings.STORAGES = {**settings.STORAGES, "default": s3_storages_setting(dead)}
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["storage"] is False
    assert body["checks"]["database"] is True
    assert "storage" in body["detail"]


def test_readyz_names_storage_when_the_bucket_is_missing(client, settings, s3_server):
    missing = s3_server.env("no-such-bucket-here")
    settings.STORAGES = {**settings.STORAGES, "default": s3_storages_setting(missing)}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] is False


def test_local_storage_is_not_probed(client, settings):
    response = client.get("/readyz")
    assert "storage" not in response.json()["checks"]


def test_presigned_urls_name_the_public_endpoint(settings, s3_server, s3_bucket):
    # The app talks to 127.0.0.1; clients are told another name for the same server.
    port = s3_server.url.rsplit(":", 1)[1]
    public = f"http://localhost:{port}"
    env = {**s3_server.env(s3_bucket), "S3_PUBLIC_ENDPOINT_URL": public}
    settings.STORAGES = {**settings.STORAGES, "default": s3_storages_setting(env)}
    default_storage.save("media/aa/public-test", TemporaryUploadedFile("x", "text/plain", 0, None))
    url = default_storage.url("media/aa/public-test", parameters={"ResponseContentType": "text/plain"})
    assert url.startswith(f"{public}/{s3_bucket}/media/aa/public-test?")
    assert httpx.get(url, timeout=30).status_code == 200
    upload_url = default_storage.upload_url("media/aa/put-test", expire=60, parameters={})
    assert upload_url.startswith(f"{public}/{s3_bucket}/media/aa/put-test?")


def test_spooled_upload_arrives_whole_in_parts(s3_storage):
    data = b"0123456789abcdef" * (1024 * 1024)  # 16 MiB: two multipart parts
    spooled = TemporaryUploadedFile("big.bin", "application/octet-stream", len(data), None)
    spooled.write(data)
    spooled.seek(0)
    name = default_storage.save("media/bb/by-path", spooled)
    assert name == "media/bb/by-path"
    stored = s3_storage.read(name)
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert s3_storage.head(name)["ContentType"] == "application/octet-stream"
