"""Uploads never attached to a message are purged after a configurable time."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from media.models import Media
from media.services import grant_media_access
from media.tasks import purge_unattached_media
from tests.support.media import upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("storage_kind")]


def test_purge_removes_old_unattached_only(
    user_client, user, other_user, settings, media_storage, django_capture_on_commit_callbacks
):
    settings.MEDIA_UNATTACHED_TTL_SECONDS = 3600
    old_orphan, old_attached, fresh = (upload(user_client, f"{n}".encode()).json()["id"] for n in range(3))
    grant_media_access(media_ids=[old_attached], owner_id=user.pk, grantee_ids=[other_user.pk])
    Media.objects.filter(pk__in=[old_orphan, old_attached]).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    orphan_key = Media.objects.get(pk=old_orphan).object_key
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_unattached_media.delay().get() == 1
    assert set(Media.objects.values_list("pk", flat=True)) == {
        Media.objects.get(pk=old_attached).pk,
        Media.objects.get(pk=fresh).pk,
    }
    assert not default_storage.exists(orphan_key)
    assert orphan_key not in media_storage.object_keys() and len(media_storage.object_keys()) == 2


def test_purge_is_scheduled():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["media-purge-unattached"]
    assert entry["task"] == "media.tasks.purge_unattached_media"
    from messenger.celery import app

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


def test_purge_works_in_batches(user_client, django_capture_on_commit_callbacks):
    from media.services import media_purge_unattached

    for n in range(5):
        upload(user_client, f"{n}".encode())
    Media.objects.update(created_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert media_purge_unattached(batch_size=2) == 5
    assert not Media.objects.exists()
