"""Storage failing under the app: a clear 503 (or 404 for bytes that are gone), never a 500, and
nothing half-recorded."""

import contextlib
import hashlib
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from media.models import Media
from tests.s3 import free_port, s3_storages_setting
from tests.support.media import upload

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


@pytest.fixture
def full_spool(tmp_path: Path, settings):
    """The upload spool (FILE_UPLOAD_TEMP_DIR) on a full disk: as root, a 64 KiB tmpfs filled to
    the last byte (writes fail with ENOSPC, as on a real full disk); otherwise a directory the
    server may not write in (EACCES), the nearest an ordinary user gets."""
    spool = tmp_path / "spool"
    spool.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(spool)], capture_output=True
        )
        if mount.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs to fill: {mount.stderr.decode().strip()}")
        with contextlib.suppress(OSError), (spool / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
    else:
        spool.chmod(0o500)
    settings.FILE_UPLOAD_TEMP_DIR = str(spool)
    try:
        yield spool
    finally:
        if as_root:
            subprocess.run(["umount", "-l", str(spool)], check=True)
        else:
            spool.chmod(0o700)


def test_upload_with_the_spool_disk_full_is_503_and_stores_nothing(user_client, media_storage, full_spool):
    response = upload(user_client, os.urandom(200 * 1024))
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert int(response["Retry-After"]) >= 1  # the client knows when to try again
    assert not Media.objects.exists()
    assert not media_storage.object_keys()
    assert {path.name for path in full_spool.iterdir()} <= {"filler"}  # no partial file left behind
