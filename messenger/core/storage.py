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
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from storages.backends.s3 import S3Storage as BaseS3Storage
from storages.utils import clean_name

PROBE_CONFIG = Config(connect_timeout=2, read_timeout=2, retries={"total_max_attempts": 1})


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
