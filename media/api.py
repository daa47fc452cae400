"""Media endpoints: thin views over media.services and media.selectors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import FileResponse, HttpResponseRedirect
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthenticatedRequest, OptionallyAuthenticatedRequest
from media import selectors, services
from media.events import media_representation, thumbnail_url
from media.exceptions import MediaNotFound
from media.models import Media
from media.serializers import (
    DirectUploadInputSerializer,
    DirectUploadSerializer,
    MediaSerializer,
    MediaUploadSerializer,
)
from media.storage import (
    attachment_disposition,
    is_s3,
    media_storage,
    object_download_url,
    served_content_type,
    storage_errors,
)
from media.uploads import MediaMultiPartParser, discard_streamed

_ERRORS = {
    400: OpenApiResponse(description="Invalid input (the error envelope)."),
    404: OpenApiResponse(description="Unknown, or not visible to the caller."),
    503: OpenApiResponse(
        description="`storage_unavailable`: object storage did not answer; nothing was recorded."
    ),
}
_SIG_PARAM = OpenApiParameter(
    "sig",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=False,
    description="Signature from a `download_url` (local mode); without it, Bearer auth is required.",
)


class MediaUploadView(APIView):
    parser_classes = [MediaMultiPartParser]

    @extend_schema(
        operation_id="media_upload",
        request={"multipart/form-data": MediaUploadSerializer},
        responses={
            201: MediaSerializer,
            400: _ERRORS[400],
            413: OpenApiResponse(
                description="`media_too_large`: the file (or thumbnail) is over its cap; a declared "
                "Content-Length over the caps is refused before the body is read."
            ),
            415: OpenApiResponse(description="Not a multipart/form-data body."),
            503: _ERRORS[503],
        },
        description="Streams the file to storage (SHA-256 computed on the way); `file_type` comes "
        "from the bytes' signature (never the client's claim nor a value written inside the file), "
        "`application/octet-stream` when none matches (any text, HTML and SVG included). Downloads "
        "go out as that type only for an allow-list of inert types (raster images, audio, MP4/WebM/"
        "QuickTime video), else as `application/octet-stream`; always as an attachment with nosniff. "
        "A plain image uploaded without a thumbnail gets one made in the background.",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = MediaUploadSerializer(data=request.data)
        if not serializer.is_valid():
            discard_streamed(request.FILES.values())  # the file may already be in storage
            raise ValidationError(serializer.errors)
        media = services.media_upload(
            uploader_id=request.user.pk,
            upload=serializer.validated_data["file"],
            file_name=serializer.validated_data.get("file_name"),
            thumbnail=serializer.validated_data.get("thumbnail"),
        )
        return Response(MediaSerializer(media_representation(media)).data, status=201)


class MediaDirectUploadView(APIView):
    @extend_schema(
        operation_id="media_direct_upload",
        request=DirectUploadInputSerializer,
        responses={
            201: DirectUploadSerializer,
            400: OpenApiResponse(
                description="Invalid input, or `direct_upload_unavailable`: this server stores media "
                "on its own disk (embedded mode), use `POST /media/upload`."
            ),
            413: OpenApiResponse(description="`file_size` is over the upload cap."),
        },
        description="For large files: the bytes go straight to object storage, not through this "
        "server. 1) Announce the size and SHA-256 here. 2) `PUT` the bytes to `upload_url` with "
        "`upload_headers`. 3) `POST complete_url`: the server checks the stored object's size and "
        "SHA-256 and answers the `<media>`. Until then the media is invisible and cannot be attached; "
        "one never completed is purged with other unattached uploads.",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = DirectUploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        direct = services.media_direct_upload_start(uploader_id=request.user.pk, **serializer.validated_data)
        body = {
            "id": direct.media.pk,
            "upload_url": direct.upload_url,
            "upload_method": "PUT",
            "upload_headers": direct.upload_headers,
            "expires_in": direct.expires_in,
            "complete_url": reverse("media-complete", kwargs={"media_id": direct.media.pk}),
        }
        return Response(DirectUploadSerializer(body).data, status=201)


class MediaCompleteView(APIView):
    @extend_schema(
        operation_id="media_direct_upload_complete",
        request=None,
        responses={
            200: MediaSerializer,
            400: OpenApiResponse(
                description="`upload_incomplete`: nothing uploaded yet, or the stored object's size or "
                "SHA-256 is not the announced one (that object is deleted; PUT again while the URL lasts)."
            ),
            404: _ERRORS[404],
            503: _ERRORS[503],
        },
        description="Uploader only. Idempotent: once complete, it answers the same `<media>` again.",
    )
    def post(self, request: AuthenticatedRequest, media_id: UUID) -> Response:
        media = services.media_direct_upload_complete(media_id=media_id, user_id=request.user.pk)
        return Response(MediaSerializer(media_representation(media)).data)


class MediaDetailView(APIView):
    @extend_schema(
        operation_id="media_retrieve",
        responses={200: MediaSerializer, 404: _ERRORS[404]},
        description="Visible to its uploader, and to whoever was sent it in a message or group message "
        "that still exists: a message deleted for everyone, or a deleted group's messages, no longer "
        "grant it (another message carrying the same media still does). The same rule serves "
        "`/download` and `/thumbnail`.",
    )
    def get(self, request: AuthenticatedRequest, media_id: UUID) -> Response:
        media = selectors.get_visible_media(media_id=media_id, user_id=request.user.pk)
        return Response(MediaSerializer(media_representation(media)).data)

    @extend_schema(
        operation_id="media_destroy",
        responses={
            204: None,
            403: OpenApiResponse(description="Visible to the caller, but not theirs."),
            404: _ERRORS[404],
        },
    )
    def delete(self, request: AuthenticatedRequest, media_id: UUID) -> Response:
        services.media_delete(media_id=media_id, user_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _ServeObjectView(APIView):
    """Serves one stored object of a media: with a valid `?sig=` from a download URL (no
    Bearer needed, so a browser link works), or to an authenticated caller who may see it."""

    permission_classes = [AllowAny]
    thumbnail = False
    route = ""

    def _media(self, request: OptionallyAuthenticatedRequest, media_id: UUID) -> Media:
        token = request.query_params.get("sig")
        if token:
            return selectors.get_media_by_signed_url(media_id=media_id, token=token, thumbnail=self.thumbnail)
        if request.user is None:
            raise NotAuthenticated()
        media = selectors.get_visible_media(media_id=media_id, user_id=request.user.pk)
        if self.thumbnail and not thumbnail_url(media):
            raise MediaNotFound("This media has no thumbnail.")
        return media

    def _serve(self, media: Media) -> Any:
        key = media.thumbnail_key if self.thumbnail else media.object_key
        file_type = media.thumbnail_type if self.thumbnail else media.file_type
        storage = media_storage()
        if is_s3(storage):
            url = object_download_url(
                media_id=media.pk,
                object_key=key,
                file_name=media.file_name,
                file_type=file_type,
                route=self.route,
            )
            response: Any = HttpResponseRedirect(url)
        else:
            try:
                with storage_errors():
                    stored = storage.open(key, "rb")
            except FileNotFoundError:  # the row outlived its bytes: nothing to serve
                raise MediaNotFound("The stored bytes of this media are missing.") from None
            response = FileResponse(stored, content_type=served_content_type(file_type))
            response["Content-Disposition"] = attachment_disposition(media.file_name)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response

    def get(self, request: OptionallyAuthenticatedRequest, media_id: UUID) -> Any:
        media = self._media(request, media_id)
        return self._serve(media)


class MediaDownloadView(_ServeObjectView):
    route = "media-download"

    @extend_schema(
        operation_id="media_download",
        parameters=[_SIG_PARAM],
        responses={
            # The sniffed type if on the allow-list of inert types, else application/octet-stream.
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The bytes, as an attachment, with nosniff."
            ),
            302: OpenApiResponse(description="S3 mode: a redirect to a presigned URL."),
            404: _ERRORS[404],
        },
    )
    def get(self, request: OptionallyAuthenticatedRequest, media_id: UUID) -> Any:
        return super().get(request, media_id)


class MediaThumbnailView(_ServeObjectView):
    thumbnail = True
    route = "media-thumbnail"

    @extend_schema(
        operation_id="media_thumbnail",
        parameters=[_SIG_PARAM],
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The thumbnail: image/jpeg when the server made it, else the sniffed type "
                "of the client's own (application/octet-stream if encrypted).",
            ),
            302: OpenApiResponse(description="S3 mode: a redirect to a presigned URL."),
            404: _ERRORS[404],
        },
    )
    def get(self, request: OptionallyAuthenticatedRequest, media_id: UUID) -> Any:
        return super().get(request, media_id)
