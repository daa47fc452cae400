"""/healthz (the process answers) and /readyz (what it depends on answers)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


def _storage_probe():  # type: ignore[no-untyped-def]
    """The default storage's readiness probe, if it has one (messenger.core.storage.S3Storage:
    a HEAD on the bucket with short timeouts, raising when the endpoint or bucket is unreachable)."""
    from django.core.files.storage import default_storage

    return getattr(default_storage, "check_reachable", None)


def readiness_checks() -> dict[str, bool]:
    checks = {"database": _check_database}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis
    probe = _storage_probe()
    if probe is not None:
        checks["storage"] = probe
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = True
        except Exception as exc:  # any failure means "not ready"; say which, log why
            logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
            results[name] = False
    return results


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    results = readiness_checks()
    down = [name for name, ok in results.items() if not ok]
    if down:
        return JsonResponse(
            {"detail": f"Not ready: {', '.join(down)} unreachable.", "code": "not_ready", "checks": results},
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": results})
