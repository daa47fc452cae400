"""Routes of the media app, mounted under /api/v1/."""

from core.urls import slash_optional
from media.api import (
    MediaCompleteView,
    MediaDetailView,
    MediaDirectUploadView,
    MediaDownloadView,
    MediaThumbnailView,
    MediaUploadView,
)

urlpatterns = [
    *slash_optional("media/upload", MediaUploadView.as_view(), "media-upload"),
    *slash_optional("media/upload/direct", MediaDirectUploadView.as_view(), "media-direct-upload"),
    *slash_optional("media/<uuid:media_id>", MediaDetailView.as_view(), "media-detail"),
    *slash_optional("media/<uuid:media_id>/complete", MediaCompleteView.as_view(), "media-complete"),
    *slash_optional("media/<uuid:media_id>/download", MediaDownloadView.as_view(), "media-download"),
    *slash_optional("media/<uuid:media_id>/thumbnail", MediaThumbnailView.as_view(), "media-thumbnail"),
]
