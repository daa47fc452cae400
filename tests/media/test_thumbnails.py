"""Thumbnails made by a Celery task with Pillow; decompression bombs are refused, never a crash.
On local storage and S3 (moto); tasks run eagerly here, test_worker.py runs them in a real worker."""

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from media.models import Media
from media.services import media_thumbnail_make
from tests.support.media import bomb_png, fetch, png_bytes, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("storage_kind")]


def upload_and_run_tasks(client, data, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, data, **kwargs)
    assert response.status_code == 201, response.content
    return response.json()


def test_png_gets_a_thumbnail(user_client, django_capture_on_commit_callbacks):
    body = upload_and_run_tasks(
        user_client, png_bytes(1200, 800), django_capture_on_commit_callbacks, name="a.png"
    )
    media = Media.objects.get(pk=body["id"])
    assert media.thumbnail_state == Media.ThumbnailState.READY
    detail = user_client.get(f"/api/v1/media/{body['id']}").json()
    assert detail["thumbnail_url"] == f"/api/v1/media/{body['id']}/thumbnail"
    response = fetch(user_client, detail["thumbnail_url"])
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    thumbnail = Image.open(io.BytesIO(response.body))
    assert thumbnail.format == "JPEG"
    assert thumbnail.size == (320, 213)


def test_transparent_png_and_jpeg_get_thumbnails(user_client, django_capture_on_commit_callbacks):
    rgba = io.BytesIO()
    Image.new("RGBA", (500, 500), (0, 0, 0, 0)).save(rgba, format="PNG")
    jpeg = io.BytesIO()
    Image.new("RGB", (2000, 1000), (10, 200, 10)).save(jpeg, format="JPEG")
    for data in (rgba.getvalue(), jpeg.getvalue()):
        body = upload_and_run_tasks(user_client, data, django_capture_on_commit_callbacks)
        assert Media.objects.get(pk=body["id"]).thumbnail_state == Media.ThumbnailState.READY


def test_decompression_bomb_is_rejected_and_the_upload_stays(user_client, django_capture_on_commit_callbacks):
    data = bomb_png(12_000)  # 144 megapixels in ~150 KiB
    assert len(data) < 1024 * 1024
    body = upload_and_run_tasks(user_client, data, django_capture_on_commit_callbacks, name="bomb.png")
    media = Media.objects.get(pk=body["id"])
    assert media.file_type == "image/png"
    assert media.thumbnail_state == Media.ThumbnailState.REJECTED
    assert media.thumbnail_key == ""
    assert user_client.get(f"/api/v1/media/{body['id']}").json()["thumbnail_url"] is None
    assert user_client.get(f"/api/v1/media/{body['id']}/thumbnail").status_code == 404


def test_header_claiming_billions_of_pixels_is_rejected(
    user, django_capture_on_commit_callbacks, user_client
):
    data = bomb_png(64)
    # Rewrite IHDR to claim 100,000 x 100,000 (Pillow's own bomb check raises on open).
    import struct
    import zlib

    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    forged = data[:8] + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]
    body = upload_and_run_tasks(user_client, forged, django_capture_on_commit_callbacks)
    assert Media.objects.get(pk=body["id"]).thumbnail_state == Media.ThumbnailState.REJECTED


def test_pixel_cap_is_a_setting(user_client, settings, django_capture_on_commit_callbacks):
    settings.MEDIA_THUMBNAIL_MAX_PIXELS = 100 * 100
    small = upload_and_run_tasks(user_client, png_bytes(100, 100), django_capture_on_commit_callbacks)
    big = upload_and_run_tasks(user_client, png_bytes(101, 100), django_capture_on_commit_callbacks)
    assert Media.objects.get(pk=small["id"]).thumbnail_state == Media.ThumbnailState.READY
    assert Media.objects.get(pk=big["id"]).thumbnail_state == Media.ThumbnailState.REJECTED


def test_truncated_image_is_rejected(user_client, django_capture_on_commit_callbacks):
    data = png_bytes(400, 400)[:200]
    body = upload_and_run_tasks(user_client, data, django_capture_on_commit_callbacks)
    assert Media.objects.get(pk=body["id"]).thumbnail_state == Media.ThumbnailState.REJECTED


def test_client_thumbnail_means_no_server_thumbnail(user_client, django_capture_on_commit_callbacks):
    body = upload_and_run_tasks(
        user_client, png_bytes(), django_capture_on_commit_callbacks, thumbnail=b"client-made"
    )
    media = Media.objects.get(pk=body["id"])
    assert media.thumbnail_state == Media.ThumbnailState.READY
    with default_storage.open(media.thumbnail_key, "rb") as stored:
        assert stored.read() == b"client-made"


def test_media_deleted_before_the_task_runs(user_client):
    body = upload(user_client, png_bytes()).json()  # on-commit task not run in this test
    Media.objects.filter(pk=body["id"]).delete()
    assert media_thumbnail_make(media_id=body["id"]) == "gone"


def test_non_images_get_no_thumbnail(user_client, django_capture_on_commit_callbacks):
    body = upload_and_run_tasks(user_client, b"%PDF-1.7 ...", django_capture_on_commit_callbacks)
    assert Media.objects.get(pk=body["id"]).thumbnail_state == Media.ThumbnailState.NONE


def test_broker_down_at_upload_keeps_the_upload_and_redispatch_makes_the_thumbnail(
    user_client, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from media.services import media_thumbnails_redispatch
    from tests.notifications.broker import unreachable_broker

    with unreachable_broker(), django_capture_on_commit_callbacks(execute=True):
        response = upload(user_client, png_bytes(800, 600), name="p.png")
    assert response.status_code == 201  # the upload stands; only its thumbnail task was lost
    media_id = response.json()["id"]
    assert Media.objects.get(pk=media_id).thumbnail_state == Media.ThumbnailState.PENDING
    assert media_thumbnails_redispatch() == 0  # not stale yet
    Media.objects.filter(pk=media_id).update(created_at=timezone.now() - timedelta(minutes=11))
    assert media_thumbnails_redispatch() == 1
    assert Media.objects.get(pk=media_id).thumbnail_state == Media.ThumbnailState.READY
    assert media_thumbnails_redispatch() == 0


def test_redispatch_is_scheduled():
    from django.conf import settings

    from messenger.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["media-redispatch-stale-thumbnails"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
