"""JSON errors for /api/ routes that never reach DRF (and for exceptions that escape it)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from core.exceptions import envelope

logger = logging.getLogger(__name__)


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


class ApiErrorMiddleware:
    """Turns an exception escaping an /api/ view into the envelope, whatever DEBUG says."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        logger.exception("Unhandled exception on %s %s", request.method, request.path)
        return JsonResponse(envelope("Internal server error.", "server_error"), status=500)


@csrf_exempt  # an unknown path is a 404 for every method, never CSRF's HTML 403 on a POST
def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """The last /api/ route: an unknown path is a JSON 404, not Django's HTML page."""
    return JsonResponse(envelope("Not found.", "not_found"), status=404)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return api_not_found(request)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's own 400 (a SuspiciousOperation before any view: a Host header not allowed, say)."""
    if is_api_path(request.path):
        return JsonResponse(envelope("The request is malformed.", "bad_request"), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's own 403 (a PermissionDenied outside DRF)."""
    if is_api_path(request.path):
        return JsonResponse(
            envelope("You do not have permission to perform this action.", "permission_denied"), status=403
        )
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return JsonResponse(envelope("Internal server error.", "server_error"), status=500)
    from django.views.defaults import server_error

    return server_error(request)
