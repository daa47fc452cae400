"""Input and output shapes of the media endpoints. They validate; they never save."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from core.fields import StrictCharField, StrictIntegerField, StrictRegexField


class MediaUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=False, help_text="The bytes (for E2EE clients: ciphertext)."
    )
    thumbnail = serializers.FileField(
        required=False, allow_empty_file=False, help_text="A thumbnail the client made (it may be encrypted)."
    )
    file_name = StrictCharField(
        required=False,
        max_length=255,
        trim_whitespace=False,
        help_text="Kept as given (it may be opaque); the multipart file name is used when absent.",
    )


class MediaMetadataSerializer(serializers.Serializer):
    """`<media>` as message attachments carry it (no download_url)."""

    id = serializers.UUIDField()
    file_name = serializers.CharField()
    file_type = serializers.CharField(help_text="Sniffed from the bytes, not taken from the client.")
    file_size = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="Hex SHA-256 of the stored bytes.")
    thumbnail_url = serializers.CharField(
        allow_null=True, help_text="App route serving the thumbnail (Bearer auth), or null."
    )
    created_at = serializers.DateTimeField()


class MediaSerializer(MediaMetadataSerializer):
    """`<media>`"""

    download_url = serializers.CharField(
        help_text="Short-lived URL of the bytes: presigned S3 URL, or a signed app URL in local mode."
    )


class DirectUploadInputSerializer(serializers.Serializer):
    file_size = StrictIntegerField(
        min_value=1, help_text="Exact length in bytes of what will be PUT (capped like uploads)."
    )
    sha256 = StrictRegexField(r"^[0-9a-fA-F]{64}\Z", help_text="Hex SHA-256 of the bytes that will be PUT.")
    file_name = StrictCharField(
        required=False, max_length=255, trim_whitespace=False, help_text="Kept as given (it may be opaque)."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # The cap the service answers 413 past, read by drf-spectacular (`maximum`).
        fields["file_size"].max_value = settings.MEDIA_MAX_UPLOAD_BYTES
        return fields


class DirectUploadSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The media's id; it becomes visible after `complete`.")
    upload_url = serializers.CharField(help_text="Presigned URL: PUT the bytes there as the raw body.")
    upload_method = serializers.CharField(help_text="Always PUT.")
    upload_headers = serializers.DictField(
        child=serializers.CharField(),
        help_text="Headers the PUT must carry exactly (they are signed): Content-Type, Content-Length, "
        "x-amz-checksum-sha256 (base64 of the SHA-256).",
    )
    expires_in = serializers.IntegerField(help_text="Seconds the upload URL stays valid.")
    complete_url = serializers.CharField(help_text="POST here (Bearer auth) once the PUT succeeded.")
