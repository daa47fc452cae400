"""The S3 storage backend (STORAGES["default"] when S3_BUCKET is set): django-storages' S3Storage
with three additions.

- Uploads of files already on disk go by path. S3Storage._save hands boto3 a file object, and for
  a file object s3transfer copies every multipart part into memory so that it can send parts in
  parallel (up to 10 parts of 8 MiB per upload): one 200 MiB upload grew the server by ~110 MiB
  (bench/upload_memory.py). Given a path (an upload spooled to a temporary file), s3transfer reads
  each part from the file while sending it, with the same parallelism and no copies.
- Presigned URLs can name a public endpoint (`public_endpoint_url`, S3_PUBLIC_ENDPOINT_URL): the
  app reaches MinIO as http://minio:9000 inside the network, a phone reaches it as
  https://media.example.com. Presigning is offline arithmetic; that client never connects.
- `check_reachable()`: a HEAD on the bucket with short timeouts and no retries, for /readyz.
- `open_streaming_upload()`: an object written while its bytes still arrive (`StreamingUpload`):
  parts go to S3 as they fill, while the next one is received, instead of after the whole body.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from storages.backends.s3 import S3Storage as BaseS3Storage
from storages.utils import clean_name

logger = logging.getLogger(__name__)

PROBE_CONFIG = Config(connect_timeout=2, read_timeout=2, retries={"total_max_attempts": 1})


# S3's smallest part (but the last) is 5 MiB; 8 MiB is boto3's own multipart_chunksize.
STREAM_PART_BYTES = 8 * 1024 * 1024
# Parts on the wire at once while the next fills: memory is about (this + 1) parts per upload.
# One is enough to overlap receiving with sending (the point); more cost 8 MiB each per upload.
STREAM_PARTS_IN_FLIGHT = 1


class StreamingUpload:
    """One S3 object written as its bytes arrive (`write`), then `complete()` or `abort()`.

    Bytes collect into a part; a full part is sent on a worker thread while the caller goes on
    receiving, with at most STREAM_PARTS_IN_FLIGHT parts sent at once (`write` waits for a slot):
    memory stays at a few parts whatever the object's size. An object smaller than a part is one
    PutObject at `complete()`; the multipart upload is created with the first full part.
    """

    def __init__(self, client: Any, bucket: str, key: str, params: dict[str, Any]) -> None:
        self.client, self.bucket, self.key, self.params = client, bucket, key, params
        self.pieces: list[bytes] = []  # the part filling up, as received (joined once: one copy)
        self.filled = 0
        self.upload_id: str | None = None
        self.parts: list[Future[str]] = []
        self.slots = threading.Semaphore(STREAM_PARTS_IN_FLIGHT)
        self.executor: ThreadPoolExecutor | None = None

    def write(self, data: bytes) -> None:
        if data:
            self.pieces.append(data)
            self.filled += len(data)
        if self.filled >= STREAM_PART_BYTES:  # a part may run a chunk past 8 MiB: S3 does not mind
            self._send(self._take())

    def _take(self) -> bytes:
        part = b"".join(self.pieces)
        self.pieces, self.filled = [], 0
        return part

    def _send(self, part: bytes) -> None:
        if self.upload_id is None:
            created = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key, **self.params)
            self.upload_id = created["UploadId"]
            self.executor = ThreadPoolExecutor(STREAM_PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
        failed = next((sent for sent in self.parts if sent.done() and sent.exception()), None)
        if failed is not None:
            failed.result()  # a part S3 refused: stop receiving now, not at the end
        self.slots.acquire()
        assert self.executor is not None
        self.parts.append(self.executor.submit(self._upload_part, len(self.parts) + 1, part))

    def _upload_part(self, number: int, part: bytes) -> str:
        try:
            answer = self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=part
            )
            return answer["ETag"]
        finally:
            self.slots.release()

    def complete(self) -> None:
        try:
            if self.upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=self.key, Body=self._take(), **self.params)
                return
            if self.pieces:
                self._send(self._take())
            etags = [sent.result() for sent in self.parts]
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={
                    "Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, 1)]
                },
            )
        except BaseException:
            self.abort()
            raise
        finally:
            self.pieces, self.filled = [], 0
            if self.executor is not None:
                self.executor.shutdown(wait=True)

    def abort(self) -> None:
        """Drops what was sent (an unfinished multipart upload would be kept, and billed)."""
        self.pieces, self.filled = [], 0
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)
            except Exception:  # best effort: the failure that got us here is the one to report
                logger.exception("Could not abort the multipart upload of %s", self.key)


class _Typed:
    def __init__(self, content_type: str) -> None:
        self.content_type = content_type


class S3Storage(BaseS3Storage):
    public_endpoint_url: str | None

    def get_default_settings(self) -> dict[str, Any]:
        return {**super().get_default_settings(), "public_endpoint_url": None}

    def _save(self, name: str, content: Any) -> str:
        temporary_file_path = getattr(content, "temporary_file_path", None)
        if temporary_file_path is None or self.gzip:
            return super()._save(name, content)
        cleaned_name = clean_name(name)
        name = self._normalize_name(cleaned_name)
        params = self._get_write_parameters(name, content)
        content.flush()
        self.bucket.Object(name).upload_file(
            temporary_file_path(), ExtraArgs=params, Config=self.transfer_config
        )
        return cleaned_name

    def open_streaming_upload(self, name: str, *, content_type: str) -> tuple[str, StreamingUpload]:
        """(the name `save` would have returned, the object's writer)."""
        cleaned_name = clean_name(name)
        key = self._normalize_name(cleaned_name)
        params = self._get_write_parameters(key, _Typed(content_type))
        return cleaned_name, StreamingUpload(self.bucket.meta.client, self.bucket_name, key, params)

    def _client(self, cache_name: str, *, endpoint_url: str | None, config: Config) -> Any:
        client = getattr(self._connections, cache_name, None)
        if client is None:
            client = self._create_session().client(
                "s3",
                region_name=self.region_name,
                use_ssl=self.use_ssl,
                endpoint_url=endpoint_url,
                config=config,
                verify=self.verify,
            )
            setattr(self._connections, cache_name, client)
        return client

    @property
    def signing_client(self) -> Any:
        """The client that presigns URLs handed to clients (the public endpoint, when set)."""
        if not self.public_endpoint_url:
            return self.connection.meta.client
        return self._client(
            "signing_client", endpoint_url=self.public_endpoint_url, config=self.client_config
        )

    def url(
        self,
        name: str,
        parameters: dict[str, Any] | None = None,
        expire: int | None = None,
        http_method: str | None = None,
    ) -> str:
        if not self.public_endpoint_url or self.custom_domain or not self.querystring_auth:
            return super().url(name, parameters=parameters, expire=expire, http_method=http_method)
        params = {
            **(parameters or {}),
            "Bucket": self.bucket_name,
            "Key": self._normalize_name(clean_name(name)),
        }
        return self.signing_client.generate_presigned_url(
            "get_object",
            Params=params,
            ExpiresIn=self.querystring_expire if expire is None else expire,
            HttpMethod=http_method,
        )

    def upload_url(self, name: str, *, expire: int, parameters: dict[str, Any]) -> str:
        """A presigned PUT of one object. Every header `parameters` implies (Content-Type,
        Content-Length, x-amz-checksum-sha256...) is signed: the uploader must send exactly it."""
        params = {**parameters, "Bucket": self.bucket_name, "Key": self._normalize_name(clean_name(name))}
        return self.signing_client.generate_presigned_url("put_object", Params=params, ExpiresIn=expire)

    def check_reachable(self) -> None:
        """Raises unless the bucket answers a HEAD within a couple of seconds."""
        config = self.client_config.merge(PROBE_CONFIG)
        client = self._client("probe_client", endpoint_url=self.endpoint_url, config=config)
        client.head_bucket(Bucket=self.bucket_name)
