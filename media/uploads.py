"""Receiving a multipart upload without holding it in memory.

`MediaUploadHandler` is a Django upload handler: each file part arrives in chunks of
CHUNK_SIZE, and each chunk is counted against the field's cap, fed to SHA-256, kept (the first
SNIFF_BYTES only) for type sniffing, and written on:

- to S3 as it arrives, when the storage can take an object that way (the main file): parts go out
  while the next ones are received (core.storage.StreamingUpload, a few 8 MiB parts in
  memory), so the upload ends about when the body does, instead of receiving the whole body and
  then sending it all again (issue 15: that was two sequential passes). The file part ends as a
  `StreamedUpload`, its object already stored; an upload that fails afterwards deletes it;
- otherwise (the filesystem storage, thumbnails) to a temporary file on disk, which reaches
  storage afterwards (`storage.save`). Memory stays at about one chunk.

A request whose Content-Length already says it is too big is refused before a byte of the body
is read (`handle_raw_input`); one without a length, or lying about it, is stopped at the first
chunk past the cap.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework.parsers import MultiPartParser

from media.exceptions import InvalidUpload, MediaTooLarge, SpoolFull
from media.services import MEDIA_PREFIX
from media.sniff import SNIFF_BYTES, sniff
from media.storage import delete_objects, open_streaming_upload, storage_errors

STREAMED_FIELDS = {"file"}  # thumbnails are small, and sniffed on their own

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
# Boundaries, part headers and the small text fields (file_name) on top of the files themselves.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class StagedUpload(TemporaryUploadedFile):
    """A received file on local disk, with what was learnt while it streamed in."""

    sha256: str = ""
    head: bytes = b""


class StreamedUpload(UploadedFile):
    """A received file already in storage under `object_key` (no bytes here), with what was
    learnt while it streamed in."""

    sha256: str = ""
    head: bytes = b""
    object_key: str = ""


def discard_streamed(files: Iterable[Any]) -> None:
    """Deletes the objects of streamed files no Media row will own (a refused upload)."""
    keys = [upload.object_key for upload in files if getattr(upload, "object_key", "")]
    if keys:
        delete_objects(keys)


def upload_limits() -> dict[str, int]:
    """The file fields an upload may carry, and each one's cap in bytes."""
    return {"file": settings.MEDIA_MAX_UPLOAD_BYTES, "thumbnail": settings.MEDIA_MAX_THUMBNAIL_BYTES}


def too_large(field_name: str, limit: int) -> MediaTooLarge:
    return MediaTooLarge(f"'{field_name}' is larger than {limit} bytes.")


class MediaUploadHandler(FileUploadHandler):
    chunk_size = CHUNK_SIZE

    def __init__(self, request: Any = None, *, limits: Mapping[str, int]) -> None:
        super().__init__(request)
        self.limits = dict(limits)
        self.seen_fields: set[str] = set()
        self.file: StagedUpload | None = None
        self.stream: Any = None  # the current file's StreamingUpload, once its type is known
        self.object_key = ""
        self.streamed: list[StreamedUpload] = []  # completed, not yet owned by a Media row

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: bytes,
        encoding: str | None = None,
    ) -> None:
        # Before the parser reads anything: a declared length past every cap together is a 413.
        ceiling = sum(self.limits.values()) + MULTIPART_OVERHEAD_BYTES
        if content_length > ceiling:
            raise MediaTooLarge(f"The upload is larger than {self.limits.get('file', ceiling)} bytes.")
        return None

    def new_file(
        self,
        field_name: str,
        file_name: str,
        content_type: str,
        content_length: int | None,
        charset: str | None = None,
        content_type_extra: dict[str, Any] | None = None,
    ) -> None:
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if field_name not in self.limits:
            raise InvalidUpload(
                f"Unexpected file field '{field_name}'.", errors={field_name: ["Not expected."]}
            )
        if field_name in self.seen_fields:
            raise InvalidUpload(f"More than one '{field_name}'.", errors={field_name: ["Send one file."]})
        self.seen_fields.add(field_name)
        self.limit = self.limits[field_name]
        self.size = 0
        self.digest = hashlib.sha256()
        self.head = bytearray()
        self.streaming = field_name in STREAMED_FIELDS
        self.pending = bytearray()  # a streamed file's first bytes, until its type is known
        self.file = None
        if not self.streaming:
            with self._spool_errors():
                self.file = StagedUpload(file_name, content_type, 0, charset, content_type_extra)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.size += len(raw_data)
        if self.size > self.limit:
            self.upload_interrupted()
            raise too_large(self.field_name, self.limit)
        self.digest.update(raw_data)
        if len(self.head) < SNIFF_BYTES:
            self.head += raw_data[: SNIFF_BYTES - len(self.head)]
        if not self.streaming:
            assert self.file is not None
            with self._spool_errors():
                self.file.write(raw_data)
        elif self.stream is None and len(self.head) < SNIFF_BYTES:
            self.pending += raw_data
        else:
            self._stream(raw_data)
        return None  # consumed: no later handler sees this chunk

    def _stream(self, data: bytes) -> None:
        with storage_errors():
            if self.stream is None:
                opened = open_streaming_upload(MEDIA_PREFIX, file_type=sniff(bytes(self.head)))
                if opened is None:  # the storage cannot: spool like any other file
                    self.streaming = False
                    with self._spool_errors():
                        self.file = StagedUpload(self.file_name, self.content_type, 0, self.charset)
                        self.file.write(bytes(self.pending) + data)
                    self.pending = bytearray()
                    return
                self.object_key, self.stream = opened
                data, self.pending = bytes(self.pending) + data, bytearray()
            try:
                self.stream.write(data)
            except BaseException:
                self.upload_interrupted()
                raise

    def file_complete(self, file_size: int) -> UploadedFile:
        if self.streaming:
            if self.stream is None:  # smaller than the sniffing window: its type is known now
                self._stream(b"")
            if self.streaming:
                return self._complete_stream(file_size)
        assert self.file is not None
        with self._spool_errors():
            self.file.flush()  # storage may move or upload the file by its path
        staged, self.file = self.file, None
        staged.seek(0)
        staged.size = file_size
        staged.sha256 = self.digest.hexdigest()
        staged.head = bytes(self.head)
        return staged

    def _complete_stream(self, file_size: int) -> StreamedUpload:
        stream, self.stream = self.stream, None
        with storage_errors():
            stream.complete()
        streamed = StreamedUpload(io.BytesIO(), self.file_name, self.content_type, file_size, self.charset)
        streamed.sha256 = self.digest.hexdigest()
        streamed.head = bytes(self.head)
        streamed.object_key = self.object_key
        self.streamed.append(streamed)
        return streamed

    @contextmanager
    def _spool_errors(self) -> Iterator[None]:
        """The spool's disk full (or refusing writes): the partial file goes, and the client gets
        a 503 with Retry-After, never a 500; nothing was stored and no row written."""
        try:
            yield
        except OSError as exc:
            self.upload_interrupted()
            logger.error(
                "Cannot spool an upload to %s: %s",
                settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir(),
                exc,
            )
            raise SpoolFull() from exc

    def upload_interrupted(self) -> None:
        if self.file is not None:
            self.file.close()  # NamedTemporaryFile: closing removes it from disk
            self.file = None
        if self.stream is not None:
            stream, self.stream = self.stream, None
            stream.abort()

    def discard(self) -> None:
        """The request failed while parsing: nothing received is kept, in storage either."""
        self.upload_interrupted()
        discard_streamed(self.streamed)
        self.streamed = []


class MediaMultiPartParser(MultiPartParser):
    """DRF's multipart parser with MediaUploadHandler as the only upload handler."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = parser_context["request"]
        handler = MediaUploadHandler(request._request, limits=upload_limits())
        request._request.upload_handlers = [handler]
        try:
            return super().parse(stream, media_type, parser_context)
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            # Django's SuspiciousOperation for DATA_UPLOAD_MAX_NUMBER_FIELDS/FILES: a bad body (400).
            handler.discard()
            raise InvalidUpload("The upload has too many form fields.") from exc
        except BaseException:
            handler.discard()
            raise
