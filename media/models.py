"""Media: one row per stored object (metadata only; the bytes live in the storage backend)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Media(models.Model):
    class State(models.TextChoices):
        # A direct-to-storage upload whose bytes have not been checked yet: invisible to everyone
        # but its uploader's "complete" call, and never attachable.
        UPLOADING = "uploading", "Uploading"
        READY = "ready", "Ready"

    class ThumbnailState(models.TextChoices):
        NONE = "none", "None"  # not an image we make thumbnails for
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        REJECTED = "rejected", "Rejected"  # over the pixel cap, or not a decodable image
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Random, never derived from the user's file name (storage.new_object_key).
    object_key = models.CharField(max_length=255, unique=True)
    # As the client gave it (it may be opaque); sanitised only when it goes into a header.
    file_name = models.CharField(max_length=255)
    file_type = models.CharField(max_length=127)  # sniffed from the bytes
    file_size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.READY)
    thumbnail_key = models.CharField(max_length=255, blank=True, default="")
    thumbnail_type = models.CharField(max_length=127, blank=True, default="")
    thumbnail_state = models.CharField(
        max_length=16, choices=ThumbnailState.choices, default=ThumbnailState.NONE
    )
    # Set when the media is first attached to a message; never-attached uploads get purged.
    attached_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "media"
        indexes = [
            models.Index(fields=["uploader", "created_at"], name="media_uploader_created"),
            models.Index(
                fields=["created_at"], name="media_unattached_created", condition=Q(attached_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pk} ({self.file_type}, {self.file_size} bytes)"


class MediaGrant(models.Model):
    """`user` may read `media` because `source_id` (a 1:1 message or a group message) was sent to
    them with it attached.

    One row per (media, user, source): access lasts while any row of the pair does, and a source
    takes back only its own rows (`media.services.revoke_media_access`), so the same media still
    attached to another message stays readable through that one. `source_id` is an id, not a
    foreign key: media knows nothing of messages. NULL: a grant no source can take back (none is
    made any more; kept so that a caller without a source still gets the old behaviour).
    """

    # No single-column FK indexes: `media_grant_media_user` leads with media (the access check,
    # the cascade of a media delete), `media_grant_user` is the user's (account deletion).
    media = models.ForeignKey(Media, on_delete=models.CASCADE, related_name="grants", db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    source_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "media_grant"
        constraints = [
            # Leads with the source: a revoke is one range scan of it. NULLs never conflict in a
            # unique index (PostgreSQL and SQLite alike), hence the second, partial constraint for
            # the grants without a source.
            models.UniqueConstraint(
                fields=["source_id", "media", "user"],
                condition=Q(source_id__isnull=False),
                name="media_grant_source_unique",
            ),
            models.UniqueConstraint(
                fields=["media", "user"],
                condition=Q(source_id__isnull=True),
                name="media_grant_unsourced_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["media", "user"], name="media_grant_media_user"),
            models.Index(fields=["user"], name="media_grant_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} may read {self.media_id} (granted by {self.source_id or 'no source'})"
