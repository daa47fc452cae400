"""`<media>` as other apps embed it, and its builders (media sends no socket event of its own).

JSON-ready, written as DRF writes them (`core.rendering`): a message's `attachments` carry the
same text in its REST body, its /sync item and its socket event, 1:1 or group alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict
from uuid import UUID

from django.urls import reverse

from core.rendering import iso
from media.models import Media
from media.storage import object_download_url


class MediaMetadata(TypedDict):
    """`<media>` without download_url: what a message's `attachments` carry."""

    id: str
    file_name: str
    file_type: str
    file_size: int
    sha256: str
    thumbnail_url: str | None
    created_at: str


class MediaRepresentation(MediaMetadata):
    """`<media>`: the metadata and a short-lived `download_url`."""

    download_url: str


def thumbnail_url(media: Media) -> str | None:
    """The stable app route of the thumbnail (Bearer auth or a signed ?sig=), or None."""
    if media.thumbnail_state != Media.ThumbnailState.READY or not media.thumbnail_key:
        return None
    return reverse("media-thumbnail", kwargs={"media_id": media.pk})


def media_metadata(media: Media) -> MediaMetadata:
    return {
        "id": str(media.pk),
        "file_name": media.file_name,
        "file_type": media.file_type,
        "file_size": media.file_size,
        "sha256": media.sha256,
        "thumbnail_url": thumbnail_url(media),
        "created_at": iso(media.created_at),
    }


def media_representation(media: Media) -> MediaRepresentation:
    """`<media>` with a short-lived `download_url` (presigned in S3 mode, signed app URL locally)."""
    return {
        **media_metadata(media),
        "download_url": object_download_url(
            media_id=media.pk,
            object_key=media.object_key,
            file_name=media.file_name,
            file_type=media.file_type,
            route="media-download",
        ),
    }


def attachments_of(
    attachment_ids: Sequence[str] | None, metadata: dict[UUID, MediaMetadata]
) -> list[MediaMetadata]:
    """A message's `attachments`, in its order, from a page's metadata (attachments_for); a
    deleted upload simply drops out."""
    found = (metadata.get(UUID(str(media_id))) for media_id in attachment_ids or [])
    return [item for item in found if item is not None]
