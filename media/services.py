"""Writes of media: uploads, deletes, grants, thumbnails, purges."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from media import tasks
from media.exceptions import (
    DirectUploadUnavailable,
    MediaNotFound,
    MediaNotOwned,
    MediaTooLarge,
    UploadIncomplete,
)
from media.models import Media, MediaGrant
from media.selectors import get_deletable_media, get_own_media
from media.sniff import OCTET_STREAM, SNIFF_BYTES, THUMBNAILABLE_TYPES, sniff
from media.statements import delete_grants_of_sources, insert_grants
from media.storage import (
    delete_objects,
    direct_upload_url,
    media_storage,
    new_object_key,
    served_content_type,
    storage_errors,
    supports_direct_upload,
)
from media.thumbnails import THUMBNAIL_TYPE, ThumbnailRejected, render_thumbnail

logger = logging.getLogger(__name__)

MEDIA_PREFIX = "media"
THUMBNAIL_PREFIX = "thumbnails"


def _digest_and_head(upload: File[Any]) -> tuple[str, bytes]:
    """SHA-256 and the first bytes: taken from the upload handler when it computed them while
    the file streamed in, otherwise read here in chunks."""
    sha256, head = getattr(upload, "sha256", ""), getattr(upload, "head", None)
    if sha256 and head is not None:
        return sha256, head
    digest, first = hashlib.sha256(), bytearray()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
        if len(first) < SNIFF_BYTES:
            first += chunk[: SNIFF_BYTES - len(first)]
    upload.seek(0)
    return digest.hexdigest(), bytes(first)


def _store(prefix: str, content: File[Any], *, content_type: str) -> str:
    content.seek(0)
    # S3 keeps a Content-Type with the object: ours (never the client's claim), made safe.
    # django-storages reads `content_type` off the file it saves: not an attribute of File itself.
    content.content_type = served_content_type(content_type)  # type: ignore[attr-defined]
    with storage_errors():
        return media_storage().save(new_object_key(prefix), content)


def delete_objects_on_commit(keys: Iterable[str]) -> None:
    """Objects go after the rows are gone for good: a rolled-back delete keeps its bytes."""
    keys = [key for key in keys if key]
    if keys:
        transaction.on_commit(lambda: _delete_now_or_later(keys))


def _delete_now_or_later(keys: list[str]) -> None:
    """Deleted in the request, so the bytes are gone when the 204 is sent; whatever storage
    refused goes to a retrying task rather than being left behind."""
    failed = delete_objects(keys)
    if failed:
        try:
            tasks.delete_stored_objects.delay(failed)
        except Exception:  # the broker is down too: the objects stay, the rows are gone
            logger.exception("Could not enqueue the deletion of %d stored media objects", len(failed))


def media_upload(
    *,
    uploader_id: UUID,
    upload: File[Any],
    file_name: str | None = None,
    thumbnail: File[Any] | None = None,
) -> Media:
    """Store `upload` (and the client's own `thumbnail`) under random keys and record it.

    The bytes go to storage before the transaction opens, so a slow upload holds no database
    lock; if the row cannot be written, the objects are removed again.
    """
    sha256, head = _digest_and_head(upload)
    file_type = sniff(head)
    # Streamed to storage while it arrived (media.uploads), with the type sniffed from the same
    # first bytes: already stored.
    object_key = getattr(upload, "object_key", "")
    thumbnail_key = ""
    try:
        thumbnail_type = sniff(_digest_and_head(thumbnail)[1]) if thumbnail is not None else ""
        object_key = object_key or _store(MEDIA_PREFIX, upload, content_type=file_type)
        if thumbnail is not None:
            thumbnail_key = _store(THUMBNAIL_PREFIX, thumbnail, content_type=thumbnail_type)
        if thumbnail_key:
            thumbnail_state = Media.ThumbnailState.READY
        elif file_type in THUMBNAILABLE_TYPES:
            thumbnail_state = Media.ThumbnailState.PENDING
        else:
            thumbnail_state = Media.ThumbnailState.NONE
        with transaction.atomic():
            media = Media.objects.create(
                uploader_id=uploader_id,
                object_key=object_key,
                file_name=file_name or upload.name or "file",
                file_type=file_type,
                file_size=upload.size,
                sha256=sha256,
                thumbnail_key=thumbnail_key,
                thumbnail_type=thumbnail_type,
                thumbnail_state=thumbnail_state,
            )
            if thumbnail_state == Media.ThumbnailState.PENDING:
                _enqueue_thumbnail_on_commit(media.pk)
    except BaseException:
        delete_objects([object_key, thumbnail_key])
        raise
    return media


def _enqueue_thumbnail_on_commit(media_id: UUID) -> None:
    def enqueue() -> None:
        try:
            tasks.make_thumbnail.delay(str(media_id))
        except Exception:  # the broker is down: the upload stands; the media keeps no thumbnail yet
            logger.exception("Could not enqueue the thumbnail of media %s", media_id)

    transaction.on_commit(enqueue)


@dataclass(frozen=True)
class DirectUpload:
    media: Media
    upload_url: str
    upload_headers: dict[str, str]
    expires_in: int


def media_direct_upload_start(
    *, uploader_id: UUID, file_size: int, sha256: str, file_name: str | None = None
) -> DirectUpload:
    """Announce a direct-to-storage upload: a row waiting for its bytes, and a presigned PUT.

    The bytes never pass through the app (how large files reach storage at its own speed); the
    row stays invisible (state UPLOADING) until `media_direct_upload_complete` has checked them.
    Abandoned ones are never attached, so the purge of unattached uploads removes them.
    """
    if not supports_direct_upload():
        raise DirectUploadUnavailable()
    limit = settings.MEDIA_MAX_UPLOAD_BYTES
    if file_size > limit:
        raise MediaTooLarge(f"'file_size' is larger than {limit} bytes.")
    sha256 = sha256.lower()
    expires_in = settings.MEDIA_DIRECT_UPLOAD_URL_TTL_SECONDS
    object_key = new_object_key(MEDIA_PREFIX)
    upload_url, headers = direct_upload_url(
        object_key=object_key, file_size=file_size, sha256=sha256, expire=expires_in
    )
    media = Media.objects.create(
        uploader_id=uploader_id,
        object_key=object_key,
        file_name=file_name or "file",
        file_type=OCTET_STREAM,
        file_size=file_size,
        sha256=sha256,
        state=Media.State.UPLOADING,
    )
    return DirectUpload(media=media, upload_url=upload_url, upload_headers=headers, expires_in=expires_in)


def media_direct_upload_complete(*, media_id: UUID, user_id: UUID) -> Media:
    """Check the uploaded object against what was announced, then make the media ready.

    Size first (a HEAD), then the SHA-256 computed here over the stored bytes (read in chunks;
    S3 and MinIO already refused a PUT with other bytes, moto and some stores do not), and the
    type sniffed from the first bytes. A mismatch deletes the object and answers 400; the row
    waits, so the client may PUT again while its URL lasts. Calling it again after success
    returns the media (a retried request must not fail).
    """
    media = get_own_media(media_id=media_id, user_id=user_id)
    if media.state == Media.State.READY:
        return media
    storage = media_storage()
    try:
        with storage_errors():
            stored_size = storage.size(media.object_key)
    except FileNotFoundError:
        raise UploadIncomplete("Nothing has been uploaded to the upload URL yet.") from None
    if stored_size != media.file_size:
        delete_objects([media.object_key])
        raise UploadIncomplete(
            f"The uploaded object has {stored_size} bytes, not the {media.file_size} announced.",
            errors={"file_size": ["Does not match the uploaded object."]},
        )
    with storage_errors(), storage.open(media.object_key, "rb") as stored:
        digest, head = _digest_and_head(stored)
    if digest != media.sha256:
        delete_objects([media.object_key])
        raise UploadIncomplete(
            "The uploaded bytes do not have the SHA-256 announced.",
            errors={"sha256": ["Does not match the uploaded object."]},
        )
    file_type = sniff(head)
    thumbnail_state = (
        Media.ThumbnailState.PENDING if file_type in THUMBNAILABLE_TYPES else Media.ThumbnailState.NONE
    )
    with transaction.atomic():
        # Conditional: of two concurrent "complete" calls, one makes it ready, the other reads it.
        updated = Media.objects.filter(pk=media.pk, state=Media.State.UPLOADING).update(
            state=Media.State.READY, file_type=file_type, thumbnail_state=thumbnail_state
        )
        if updated and thumbnail_state == Media.ThumbnailState.PENDING:
            _enqueue_thumbnail_on_commit(media.pk)
    completed = Media.objects.filter(pk=media.pk).first()
    if completed is None:  # deleted (by its uploader, or the purge) while its bytes were checked
        raise MediaNotFound()
    return completed


@transaction.atomic
def media_delete(*, media_id: UUID, user_id: UUID) -> None:
    """The uploader removes the media: the row (and its grants) now, the objects after commit."""
    # The uploader's row, locked: a send attaching it (grant_media_access holds this lock until
    # its commit) finishes first, so its grants are seen and deleted with the row instead of
    # being left pointing at it (an IntegrityError at commit, a 500); a thumbnail recorded
    # meanwhile is read here and deleted too instead of being left behind in storage.
    locked = Media.objects.select_for_update(no_key=False).filter(pk=media_id, uploader_id=user_id).first()
    if locked is None:
        get_deletable_media(media_id=media_id, user_id=user_id)  # 404, or 403 for a grantee
        raise MediaNotFound()  # it was the caller's, and a concurrent delete (or the purge) won
    keys = [locked.object_key, locked.thumbnail_key]
    locked.delete()
    delete_objects_on_commit(keys)


def grant_media_access(
    *,
    media_ids: Sequence[UUID],
    owner_id: UUID,
    grantee_ids: Iterable[UUID],
    source_id: UUID | None = None,
) -> None:
    """Let `grantee_ids` read each of `media_ids`, which must all be `owner_id`'s uploads, because
    of `source_id` (the message or group message that carries them): `revoke_media_access` with
    that id takes these grants back, and only these. Without a source, nothing ever revokes them.

    Raises MediaNotOwned (400) if any id is unknown or another user's; grants nothing then.
    Called inside the sender's transaction (messaging, groups), so a failed send grants nothing.
    Two queries whatever the number of media and grantees: one UPDATE that both checks ownership
    and marks the media attached (and row-locks it against a concurrent delete), one INSERT of
    every (media, grantee) pair that skips pairs this source already granted.
    """
    wanted = {UUID(str(media_id)) for media_id in media_ids}
    if not wanted:
        return
    grantees = sorted({UUID(str(user_id)) for user_id in grantee_ids} - {UUID(str(owner_id))})
    source = UUID(str(source_id)) if source_id is not None else None
    with transaction.atomic():  # a savepoint inside the sender's transaction
        now = timezone.now()
        # Matches every wanted row that is the owner's (already attached ones keep their first time).
        owned = Media.objects.filter(pk__in=wanted, uploader_id=owner_id, state=Media.State.READY).update(
            attached_at=Coalesce("attached_at", Value(now))
        )
        if owned != len(wanted):
            raise MediaNotOwned()
        if grantees:
            insert_grants(sorted(wanted), grantees, source, now)


def revoke_media_access(*, source_ids: Iterable[UUID]) -> int:
    """Take back what `source_ids` granted (a message deleted for everyone, a group's messages
    when the group goes); returns how many grants went.

    Only those sources' rows: a grantee who was sent the same media in another message keeps
    reading it through that one, and the uploader never needed a grant. One statement whatever
    the number of sources (an array parameter, as `media.statements.insert_grants`), none for no sources. Meant
    for the caller's transaction: a rolled-back delete revokes nothing. A download URL handed out
    before (presigned on S3, signed locally) stays valid until it expires
    (MEDIA_URL_TTL_SECONDS): it names no user, so nothing can check it again.
    """
    sources = sorted({UUID(str(source_id)) for source_id in source_ids})
    if not sources:
        return 0
    return delete_grants_of_sources(sources)


def media_thumbnail_make(*, media_id: UUID, final_attempt: bool = True) -> str:
    """Make the thumbnail of an image uploaded without one; returns the thumbnail state.

    Decoding happens outside any transaction; the result is recorded only if the media still
    waits for it (a delete in the meantime wins, and the new object is removed). An image
    refused by the pixel cap or unreadable is REJECTED for good; another failure (storage
    unreachable, say) is raised for the task to retry, and recorded as FAILED on the last try.
    """
    media = Media.objects.filter(pk=media_id, thumbnail_state=Media.ThumbnailState.PENDING).first()
    if media is None:
        return "gone"
    state = Media.ThumbnailState.READY
    thumbnail_key = ""
    try:
        with media_storage().open(media.object_key, "rb") as source:
            data = render_thumbnail(
                source,
                max_pixels=settings.MEDIA_THUMBNAIL_MAX_PIXELS,
                max_side=settings.MEDIA_THUMBNAIL_MAX_SIDE,
            )
        rendered = ContentFile(data)
        rendered.content_type = THUMBNAIL_TYPE  # type: ignore[attr-defined]  # for django-storages, as _store
        thumbnail_key = media_storage().save(new_object_key(THUMBNAIL_PREFIX), rendered)
    except ThumbnailRejected as exc:
        logger.info("Thumbnail of media %s rejected: %s", media_id, exc)
        state = Media.ThumbnailState.REJECTED
    except Exception:
        if not final_attempt:
            raise
        logger.exception("Thumbnail of media %s failed", media_id)
        state = Media.ThumbnailState.FAILED
    with transaction.atomic():
        updated = Media.objects.filter(pk=media_id, thumbnail_state=Media.ThumbnailState.PENDING).update(
            thumbnail_state=state,
            thumbnail_key=thumbnail_key,
            thumbnail_type=THUMBNAIL_TYPE if thumbnail_key else "",
        )
        if not updated:
            delete_objects_on_commit([thumbnail_key])
            return "gone"
    return state


def media_thumbnails_redispatch(*, older_than: timedelta | None = None, limit: int = 500) -> int:
    """Enqueue again the thumbnails still pending long after upload: their task was lost (the
    broker was down at upload time, or a worker died holding it). Running one twice is harmless:
    only the first result is recorded. Returns how many were enqueued."""
    age = older_than or timedelta(seconds=settings.MEDIA_THUMBNAIL_REDISPATCH_AFTER_SECONDS)
    stale = list(
        Media.objects.filter(
            state=Media.State.READY,
            thumbnail_state=Media.ThumbnailState.PENDING,
            created_at__lt=timezone.now() - age,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for media_id in stale:
        tasks.make_thumbnail.delay(str(media_id))
    return len(stale)


def media_purge_unattached(*, older_than: timedelta | None = None, batch_size: int = 500) -> int:
    """Remove uploads never attached to anything after `older_than` (MEDIA_UNATTACHED_TTL_SECONDS).

    Works in batches, each its own transaction, so a large backlog never holds long locks.
    """
    age = older_than if older_than is not None else timedelta(seconds=settings.MEDIA_UNATTACHED_TTL_SECONDS)
    cutoff = timezone.now() - age
    purged = 0
    while True:
        with transaction.atomic():
            batch = list(
                Media.objects.select_for_update(no_key=False, skip_locked=True)
                .filter(attached_at__isnull=True, created_at__lt=cutoff)
                .order_by("created_at")
                .values_list("pk", "object_key", "thumbnail_key")[:batch_size]
            )
            if not batch:
                return purged
            Media.objects.filter(pk__in=[row[0] for row in batch]).delete()
            delete_objects_on_commit([key for row in batch for key in row[1:]])
        purged += len(batch)
        if len(batch) < batch_size:
            return purged


@transaction.atomic
def media_delete_all_of_user(*, user_id: UUID) -> int:
    """Account deletion: the user's uploads (rows now, objects after commit, by a task) and the
    grants they held on others' media."""
    rows = list(Media.objects.filter(uploader_id=user_id).values_list("pk", "object_key", "thumbnail_key"))
    MediaGrant.objects.filter(user_id=user_id).delete()
    if rows:
        MediaGrant.objects.filter(media__uploader_id=user_id).delete()
        Media.objects.filter(uploader_id=user_id).delete()
        keys = [key for row in rows for key in row[1:] if key]
        # robust: the account is deleted by then; a broker outage must not turn that into a 500
        # (the objects stay behind, logged, as when a delete task gives up).
        transaction.on_commit(lambda: tasks.delete_stored_objects.delay(keys), robust=True)
    return len(rows)
