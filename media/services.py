"""Writes of media: uploads, deletes, grants, thumbnails, purges."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from media import tasks
from media.exceptions import MediaNotOwned
from media.models import Media, MediaGrant
from media.selectors import get_deletable_media
from media.sniff import SNIFF_BYTES, THUMBNAILABLE_TYPES, sniff
from media.storage import delete_objects, delete_objects_on_commit, media_storage, new_object_key
from media.thumbnails import THUMBNAIL_TYPE, ThumbnailRejected, render_thumbnail

logger = logging.getLogger(__name__)

MEDIA_PREFIX = "media"
THUMBNAIL_PREFIX = "thumbnails"


def _digest_and_head(upload: File) -> tuple[str, bytes]:
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


def _store(prefix: str, content: File) -> str:
    content.seek(0)
    return media_storage().save(new_object_key(prefix), content)


def media_upload(
    *,
    uploader_id: UUID,
    upload: File,
    file_name: str | None = None,
    thumbnail: File | None = None,
) -> Media:
    """Store `upload` (and the client's own `thumbnail`) under random keys and record it.

    The bytes go to storage before the transaction opens, so a slow upload holds no database
    lock; if the row cannot be written, the objects are removed again.
    """
    sha256, head = _digest_and_head(upload)
    file_type = sniff(head)
    thumbnail_type = sniff(_digest_and_head(thumbnail)[1]) if thumbnail is not None else ""
    object_key = _store(MEDIA_PREFIX, upload)
    thumbnail_key = ""
    try:
        if thumbnail is not None:
            thumbnail_key = _store(THUMBNAIL_PREFIX, thumbnail)
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
                media_id = str(media.pk)
                transaction.on_commit(lambda: tasks.make_thumbnail.delay(media_id))
    except BaseException:
        delete_objects([object_key, thumbnail_key])
        raise
    return media


@transaction.atomic
def media_delete(*, media_id: UUID, user_id: UUID) -> None:
    """The uploader removes the media: the row (and its grants) now, the objects after commit."""
    media = get_deletable_media(media_id=media_id, user_id=user_id)
    keys = [media.object_key, media.thumbnail_key]
    media.delete()
    delete_objects_on_commit(keys)


def grant_media_access(*, media_ids: Sequence[UUID], owner_id: UUID, grantee_ids: Iterable[UUID]) -> None:
    """Let `grantee_ids` read each of `media_ids`, which must all be `owner_id`'s uploads.

    Raises MediaNotOwned (400) if any id is unknown or another user's; grants nothing then.
    Called inside the sender's transaction (messaging, groups), so a failed send grants nothing.
    Two queries whatever the number of media and grantees: one UPDATE that both checks ownership
    and marks the media attached (and row-locks it against a concurrent delete), one INSERT of
    every (media, grantee) pair that skips pairs already granted.
    """
    wanted = {UUID(str(media_id)) for media_id in media_ids}
    if not wanted:
        return
    grantees = sorted({UUID(str(user_id)) for user_id in grantee_ids} - {UUID(str(owner_id))})
    with transaction.atomic():  # a savepoint inside the sender's transaction
        now = timezone.now()
        # Matches every wanted row that is the owner's (already attached ones keep their first time).
        owned = Media.objects.filter(pk__in=wanted, uploader_id=owner_id, state=Media.State.READY).update(
            attached_at=Coalesce("attached_at", Value(now))
        )
        if owned != len(wanted):
            raise MediaNotOwned()
        if grantees:
            _insert_grants(sorted(wanted), grantees, now)


def _insert_grants(media_ids: list[UUID], user_ids: list[UUID], now) -> None:  # type: ignore[no-untyped-def]
    """Every (media, user) pair in one statement with two array parameters, so the statement and
    its parameter count stay the same for 1 grantee or 1,000."""
    table = MediaGrant._meta.db_table
    media_col = MediaGrant._meta.get_field("media").column
    user_col = MediaGrant._meta.get_field("user").column
    created = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} ({media_col}, {user_col}, created_at) "  # noqa: S608 (names from the model)
                "SELECT m, u, %s FROM unnest(%s::uuid[]) AS m CROSS JOIN unnest(%s::uuid[]) AS u "
                "ON CONFLICT DO NOTHING",
                [created, media_ids, user_ids],
            )
        else:  # SQLite stores UUIDs as 32 hex characters
            cursor.execute(
                f"INSERT OR IGNORE INTO {table} ({media_col}, {user_col}, created_at) "  # noqa: S608
                "SELECT m.value, u.value, %s FROM json_each(%s) AS m CROSS JOIN json_each(%s) AS u",
                [created, json.dumps([m.hex for m in media_ids]), json.dumps([u.hex for u in user_ids])],
            )


def media_thumbnail_make(*, media_id: UUID) -> str:
    """Make the thumbnail of an image uploaded without one; returns the thumbnail state.

    Decoding happens outside any transaction; the result is recorded only if the media still
    waits for it (a delete in the meantime wins, and the new object is removed).
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
        thumbnail_key = media_storage().save(new_object_key(THUMBNAIL_PREFIX), ContentFile(data))
    except ThumbnailRejected as exc:
        logger.info("Thumbnail of media %s rejected: %s", media_id, exc)
        state = Media.ThumbnailState.REJECTED
    except Exception:
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
        transaction.on_commit(lambda: tasks.delete_stored_objects.delay(keys))
    return len(rows)
