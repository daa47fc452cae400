"""Where media bytes live: object keys, signed download URLs, headers, deletes after commit.

Everything goes through Django's storage API (`default_storage`): the local filesystem in the
embedded mode, S3 (MinIO in deployment) through django-storages in the real mode. The only
S3-specific parts are presigned URLs, which a filesystem cannot give.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.core.files.storage import Storage, default_storage
from django.urls import reverse
from django.utils.http import content_disposition_header

from core.exceptions import ApplicationError
from media.exceptions import StorageUnavailable
from media.sniff import OCTET_STREAM, served_type

logger = logging.getLogger(__name__)

_SIGNING_SALT = "media.download"
_UNSAFE_NAME_CHARS = re.compile(r'[\\/:*?"<>|]')


def media_storage() -> Storage:
    return default_storage


@contextmanager
def storage_errors() -> Iterator[None]:
    """A storage failure (endpoint down, timeout, disk full) becomes a 503 `storage_unavailable`
    instead of a 500. FileNotFoundError passes through: a missing object means something else to
    each caller."""
    try:
        yield
    except (ApplicationError, FileNotFoundError):
        raise
    except Exception as exc:
        logger.exception("Media storage failed")
        raise StorageUnavailable() from exc


def is_s3(storage: Storage | None = None) -> bool:
    """S3Storage (django-storages) can presign; the filesystem cannot."""
    storage = storage or media_storage()
    return hasattr(storage, "bucket_name") and hasattr(storage, "connection")


def open_streaming_upload(kind: str, *, file_type: str):  # type: ignore[no-untyped-def]
    """(object key, writer) of a new object that takes its bytes as they arrive, when the storage
    can (S3: core.storage.StreamingUpload); None for the filesystem, which is written
    from the spooled file instead."""
    opener = getattr(media_storage(), "open_streaming_upload", None)
    if opener is None:
        return None
    return opener(new_object_key(kind), content_type=served_content_type(file_type))


def supports_direct_upload(storage: Storage | None = None) -> bool:
    """Presigned PUTs: core.storage.S3Storage (what settings.py configures for S3)."""
    return callable(getattr(storage or media_storage(), "upload_url", None))


def direct_upload_url(
    *, object_key: str, file_size: int, sha256: str, expire: int
) -> tuple[str, dict[str, str]]:
    """A presigned PUT for exactly `file_size` bytes whose SHA-256 is `sha256`, and the headers
    the PUT must carry. All three are signed: S3 and MinIO refuse another length (signature
    mismatch) or other bytes (BadDigest). The "complete" call checks both again itself."""
    checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
    headers = {
        "Content-Type": OCTET_STREAM,
        "Content-Length": str(file_size),
        "x-amz-checksum-sha256": checksum,
    }
    url = media_storage().upload_url(  # type: ignore[attr-defined]
        object_key,
        expire=expire,
        parameters={"ContentType": OCTET_STREAM, "ContentLength": file_size, "ChecksumSHA256": checksum},
    )
    return url, headers


def new_object_key(kind: str) -> str:
    """A random key ('media/ab/<token>'); the prefix shards directories on a filesystem."""
    token = secrets.token_urlsafe(24)
    return f"{kind}/{token[:2]}/{token}"


def safe_file_name(file_name: str) -> str:
    """The client's name made harmless in a Content-Disposition header and a download dialog."""
    cleaned = "".join(
        char for char in unicodedata.normalize("NFC", file_name) if unicodedata.category(char)[0] != "C"
    )
    cleaned = _UNSAFE_NAME_CHARS.sub("_", cleaned).strip().lstrip(".").strip()
    return cleaned[:200] or "download"


def served_content_type(file_type: str) -> str:
    """Only the allow-list of inert types goes out as itself (media.sniff.SERVED_AS_ITSELF)."""
    return served_type(file_type)


def attachment_disposition(file_name: str) -> str:
    return content_disposition_header(as_attachment=True, filename=safe_file_name(file_name))


def url_ttl_seconds() -> int:
    return settings.MEDIA_URL_TTL_SECONDS


def sign_download(*, media_id: UUID, object_key: str) -> str:
    """A token naming one stored object, valid for MEDIA_URL_TTL_SECONDS (local-mode URLs)."""
    return signing.dumps({"m": str(media_id), "k": object_key}, salt=_SIGNING_SALT, compress=True)


def verify_download(*, token: str, media_id: UUID, object_key: str) -> bool:
    try:
        payload = signing.loads(token, salt=_SIGNING_SALT, max_age=url_ttl_seconds())
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        return False
    return payload == {"m": str(media_id), "k": object_key}


def object_download_url(
    *, media_id: UUID, object_key: str, file_name: str, file_type: str, route: str
) -> str:
    """A short-lived URL for one object: presigned S3 in the S3 mode, a signed app URL otherwise.

    `route` is the app route that serves the bytes locally ("media-download", "media-thumbnail").
    """
    storage = media_storage()
    if is_s3(storage):
        parameters = {
            "ResponseContentDisposition": attachment_disposition(file_name),
            "ResponseContentType": served_content_type(file_type),
        }
        return storage.url(object_key, parameters=parameters, expire=url_ttl_seconds())  # type: ignore[call-arg]
    token = sign_download(media_id=media_id, object_key=object_key)
    return f"{reverse(route, kwargs={'media_id': media_id})}?sig={token}"


def delete_objects(keys: Iterable[str]) -> list[str]:
    """Deletes each object; returns the keys that could not be deleted (storage down, say)."""
    storage = media_storage()
    failed = []
    for key in keys:
        if not key:
            continue
        try:
            storage.delete(key)
        except Exception:  # a leftover object is a cost, not a reason to fail the caller
            logger.exception("Could not delete stored media object")
            failed.append(key)
    return failed
