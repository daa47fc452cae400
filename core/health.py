"""/healthz (the process answers) and /readyz (what it depends on answers, and this process's
channel layer is the one the running processes use: core.layer_shards)."""

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


class NotReady(Exception):
    """A dependency answers, but this process must not take traffic: the message says why."""


def _redis_client():  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def _check_redis() -> None:
    client = _redis_client()
    try:
        client.ping()
    finally:
        client.close()


def check_channel_layer_shards() -> None:
    """Registers this process's channel layer; NotReady if it is not the running processes'."""
    from core.layer_shards import register_and_compare

    client = _redis_client()
    try:
        check = register_and_compare(client)
    finally:
        client.close()
    if check is not None and not check.agrees:
        raise NotReady(check.problem())


def _storage_probe():  # type: ignore[no-untyped-def]
    """The default storage's readiness probe, if it has one (core.storage.S3Storage:
    a HEAD on the bucket with short timeouts, raising when the endpoint or bucket is unreachable)."""
    from django.core.files.storage import default_storage

    return getattr(default_storage, "check_reachable", None)


def readiness_checks() -> tuple[dict[str, bool], dict[str, str]]:
    """Each check's result, and for a check that refused (NotReady) why, though it was reached."""
    checks = {"database": _check_database}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis
        checks["channel_layer_shards"] = check_channel_layer_shards
    probe = _storage_probe()
    if probe is not None:
        checks["storage"] = probe
    results: dict[str, bool] = {}
    refusals: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = True
        except NotReady as refusal:
            results[name] = False
            refusals[name] = str(refusal)
        except Exception as exc:  # any failure means "not ready"; say which, log why
            logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
            results[name] = False
    return results, refusals


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    results, refusals = readiness_checks()
    unreachable = [name for name, ok in results.items() if not ok and name not in refusals]
    if unreachable or refusals:
        reasons = [f"{', '.join(unreachable)} unreachable."] if unreachable else []
        reasons += refusals.values()
        return JsonResponse(
            {"detail": f"Not ready: {' '.join(reasons)}", "code": "not_ready", "checks": results},
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": results})
