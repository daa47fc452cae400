"""Reads of media, and the access checks: who may see a media object."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol
from uuid import UUID

from django.db.models import Exists, OuterRef, Q

from core.exceptions import Forbidden
from media.events import MediaMetadata, media_metadata
from media.exceptions import MediaNotFound
from media.models import Media, MediaGrant
from media.storage import verify_download

_METADATA_FIELDS = (
    "id",
    "file_name",
    "file_type",
    "file_size",
    "sha256",
    "thumbnail_key",
    "thumbnail_state",
    "created_at",
)


def attachments_metadata(*, media_ids: Iterable[UUID]) -> dict[UUID, MediaMetadata]:
    """`<media>` metadata (no download_url) for each id, in one query; missing ids are absent."""
    ids = list(media_ids)
    if not ids:
        return {}
    rows = Media.objects.filter(pk__in=ids, state=Media.State.READY).only(*_METADATA_FIELDS)
    return {media.pk: media_metadata(media) for media in rows}


class HasAttachments(Protocol):
    attachment_ids: Any  # a list of media ids (text) on a 1:1 or a group message


def attachments_for(messages: Iterable[HasAttachments]) -> dict[UUID, MediaMetadata]:
    """Metadata for every attachment of `messages` (1:1 or group): one query, none if there
    are no attachments. A deleted upload is absent: its message simply shows one fewer."""
    return attachments_for_ids(message.attachment_ids for message in messages)


def attachments_for_ids(attachment_ids: Iterable[Iterable[Any] | None]) -> dict[UUID, MediaMetadata]:
    """`attachments_for` from each message's `attachment_ids` (a page read as rows, not models)."""
    ids = {UUID(str(media_id)) for message_ids in attachment_ids for media_id in (message_ids or [])}
    return attachments_metadata(media_ids=sorted(ids)) if ids else {}


def _visible_to(user_id: UUID) -> Q:
    granted = MediaGrant.objects.filter(media=OuterRef("pk"), user_id=user_id)
    return Q(uploader_id=user_id) | Q(Exists(granted))


def get_visible_media(*, media_id: UUID, user_id: UUID) -> Media:
    """The media if `user_id` uploaded it or was granted it; MediaNotFound otherwise (no oracle)."""
    media = Media.objects.filter(_visible_to(user_id), pk=media_id, state=Media.State.READY).first()
    if media is None:
        raise MediaNotFound()
    return media


def get_deletable_media(*, media_id: UUID, user_id: UUID) -> Media:
    """Only the uploader deletes (a direct upload still waiting for its bytes too): 404 for
    whoever cannot see it, 403 for a grantee."""
    own = Media.objects.filter(pk=media_id, uploader_id=user_id).first()
    if own is not None:
        return own
    get_visible_media(media_id=media_id, user_id=user_id)  # MediaNotFound unless granted
    raise Forbidden("Only the uploader can delete this media.", code="not_media_owner")


def get_media_by_signed_url(*, media_id: UUID, token: str, thumbnail: bool = False) -> Media:
    """The media a signed local-mode URL names, if the signature is valid and unexpired."""
    media = Media.objects.filter(pk=media_id, state=Media.State.READY).first()
    key = (media.thumbnail_key if thumbnail else media.object_key) if media else ""
    if media is None or not key or not verify_download(token=token, media_id=media.pk, object_key=key):
        raise MediaNotFound()
    return media


def get_own_media(*, media_id: UUID, user_id: UUID) -> Media:
    """The caller's own upload in any state (a direct upload awaiting its "complete" call, say);
    MediaNotFound for anyone else's, granted or not."""
    media = Media.objects.filter(pk=media_id, uploader_id=user_id).first()
    if media is None:
        raise MediaNotFound()
    return media
