"""Thumbnails in a real `celery -A messenger worker` process on S3 (moto): a decompression bomb
is rejected and the same worker goes on to make the next PNG's thumbnail.

Needs a broker and a shared database: skipped in the embedded mode, run in CI's real mode.
"""

from __future__ import annotations

import time
import uuid

import pytest

from media.models import Media
from tests.notifications.worker import skip_unless_real_services, start_worker
from tests.s3 import s3_storages_setting
from tests.support.media import bomb_png, fetch, png_bytes, upload

pytestmark = [pytest.mark.integration, pytest.mark.real_celery, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def worker_bucket(s3_server):
    skip_unless_real_services()
    name = f"worker-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory, s3_server, worker_bucket):
    with django_db_blocker.unblock():
        yield from start_worker(
            tmp_path_factory.mktemp("media-worker"), extra_env=s3_server.env(worker_bucket)
        )


@pytest.fixture(autouse=True)
def same_storage_as_the_worker(settings, s3_server, worker_bucket):
    settings.STORAGES = {**settings.STORAGES, "default": s3_storages_setting(s3_server.env(worker_bucket))}


def wait_for_thumbnail(worker, media_id, timeout: float = 60.0) -> Media:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        media = Media.objects.get(pk=media_id)
        if media.thumbnail_state != Media.ThumbnailState.PENDING:
            return media
        assert worker.process.poll() is None, f"the worker died:\n{worker.log()}"
        time.sleep(0.2)
    raise AssertionError(f"thumbnail of {media_id} still pending after {timeout}s:\n{worker.log()}")


def test_bomb_is_rejected_and_the_worker_makes_the_next_thumbnail(worker, user_client):
    pid = worker.process.pid
    bomb = upload(user_client, bomb_png(12_000), name="bomb.png")  # 144 megapixels in ~150 KiB
    assert bomb.status_code == 201, bomb.content
    assert bomb.json()["file_type"] == "image/png"
    rejected = wait_for_thumbnail(worker, bomb.json()["id"])
    assert rejected.thumbnail_state == Media.ThumbnailState.REJECTED
    assert rejected.thumbnail_key == ""
    assert "rejected" in worker.log()

    photo = upload(user_client, png_bytes(1600, 1200), name="photo.txt")
    assert photo.status_code == 201
    made = wait_for_thumbnail(worker, photo.json()["id"])
    assert made.thumbnail_state == Media.ThumbnailState.READY
    assert worker.process.poll() is None and worker.process.pid == pid  # the same process, alive
    detail = user_client.get(f"/api/v1/media/{photo.json()['id']}").json()
    thumbnail = fetch(user_client, detail["thumbnail_url"])
    assert thumbnail.status == 200
    assert thumbnail.headers["Content-Type"] == "image/jpeg"
    assert thumbnail.body[:3] == b"\xff\xd8\xff"
