"""Files: uploads on S3 (S3_BUCKET, through django-storages) or under VAR_DIR/media; static files
served by whitenoise."""

import warnings
from typing import Any

from messenger.settings.environment import DEBUG, VAR_DIR, env
from messenger.settings.limits import MEDIA_URL_TTL_SECONDS

S3_BUCKET = env.str("S3_BUCKET", default="")
MEDIA_ROOT = VAR_DIR / "media"
WHITENOISE_USE_FINDERS = DEBUG  # `make run` serves assets without collectstatic
# whitenoise answers with a file iterator, which Django's ASGI handler reads in a thread and warns
# about on every static file under uvicorn. Harmless here (admin and Swagger UI assets, small);
# production serves REST and static files under gunicorn (WSGI, deploy/), where it does not apply.
warnings.filterwarnings(
    "ignore",
    message="StreamingHttpResponse must consume synchronous iterators",
    module="django.core.handlers.asgi",
)
MEDIA_URL = "/media-files/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_URL = "/static/"
if S3_BUCKET:
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config as BotocoreConfig

    STORAGES: dict[str, dict[str, Any]] = {
        "default": {
            # django-storages' S3Storage; uploads spooled files by path (flat memory), presigns
            # for a public endpoint, probes for /readyz (see there).
            "BACKEND": "core.storage.S3Storage",
            "OPTIONS": {
                "bucket_name": S3_BUCKET,
                "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
                # Where clients reach the same storage, if not at S3_ENDPOINT_URL (MinIO behind
                # nginx: deploy/). Presigned URLs name this host.
                "public_endpoint_url": env.str("S3_PUBLIC_ENDPOINT_URL", default=None),
                "access_key": env.str("S3_ACCESS_KEY", default=None),
                "secret_key": env.str("S3_SECRET_KEY", default=None),
                "region_name": env.str("S3_REGION", default="us-east-1"),
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": MEDIA_URL_TTL_SECONDS,
                # Object keys are 192 random bits (media.storage.new_object_key): no HEAD per
                # save to look for a name clash that cannot happen.
                "file_overwrite": True,
                # Reads (the thumbnail task) spool past this to disk; 0 would hold whole objects.
                "max_memory_size": env.int("S3_MAX_MEMORY_SIZE", default=2 * 1024 * 1024),
                # Parts in flight per upload (boto3's default is 10 threads): each thread costs
                # memory (bench/upload_memory.py), and one S3/MinIO is saturated by a few.
                "transfer_config": TransferConfig(
                    max_concurrency=env.int("S3_UPLOAD_CONCURRENCY", default=4),
                    multipart_chunksize=8 * 1024 * 1024,
                ),
                # Path-style (MinIO), SigV4; a dead endpoint fails a request in seconds (3 retries,
                # 5 s to connect), not the minute-plus of botocore's defaults.
                "client_config": BotocoreConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                    connect_timeout=env.int("S3_CONNECT_TIMEOUT_SECONDS", default=5),
                    read_timeout=env.int("S3_READ_TIMEOUT_SECONDS", default=60),
                    retries={"mode": "standard", "max_attempts": 3},
                ),
            },
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
