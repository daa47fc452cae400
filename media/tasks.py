"""Background work of media. Tasks take ids (or object keys) and call one service."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task

THUMBNAIL_MAX_RETRIES = 5


@shared_task(bind=True, ignore_result=True, max_retries=THUMBNAIL_MAX_RETRIES)
def make_thumbnail(self, media_id: str) -> str:
    """A bad image is rejected inside (never raised); a storage hiccup is retried with backoff."""
    from media.services import media_thumbnail_make

    final_attempt = self.request.retries >= THUMBNAIL_MAX_RETRIES
    try:
        return media_thumbnail_make(media_id=UUID(media_id), final_attempt=final_attempt)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc


@shared_task(ignore_result=True)
def purge_unattached_media() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): uploads never attached, after MEDIA_UNATTACHED_TTL_SECONDS."""
    from media.services import media_purge_unattached

    return media_purge_unattached()


@shared_task(ignore_result=True)
def redispatch_stale_thumbnails() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): thumbnails whose task was lost get another one."""
    from media.services import media_thumbnails_redispatch

    return media_thumbnails_redispatch()


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=8)
def delete_stored_objects(keys: list[str]) -> None:
    """Remove objects whose rows are already gone (account deletion can leave many)."""
    from media.storage import media_storage

    storage = media_storage()
    for key in keys:
        storage.delete(key)
