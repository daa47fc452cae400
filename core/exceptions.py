"""One error envelope for the whole API: `{"detail", "code"}` plus `"errors"` on a 400.

Services raise `ApplicationError` subclasses (each with a stable `code` and an HTTP status);
DRF's own exceptions and Django's are mapped here too, so no view formats an error itself.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404
from redis import exceptions as redis_exceptions
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

# A Redis that cannot serve (unreachable, timing out, loading, a read-only replica, at its
# maxmemory): a 503 to retry, not a 500. Other Redis errors (a wrong type, a script bug) stay bugs.
_UNAVAILABLE_BACKEND_ERRORS: tuple[type[Exception], ...] = (
    redis_exceptions.ConnectionError,
    redis_exceptions.TimeoutError,
    redis_exceptions.ReadOnlyError,
    redis_exceptions.OutOfMemoryError,
    # The database refusing or dropping the work (server gone, connection lost, too many
    # connections, a statement or lock timeout, a deadlock victim): the transaction rolled back,
    # nothing was half-written, and the same request may succeed in a moment. A schema or SQL
    # bug is a ProgrammingError and stays a 500.
    DatabaseOperationalError,
    DatabaseInterfaceError,
)


class ApplicationError(Exception):
    """A domain error a service raises; rendered as the envelope with `status_code`."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    default_code: str = "invalid"
    default_message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.errors = errors
        self.headers = headers or {}
        super().__init__(self.message)


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_message = "Not found."


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"
    default_message = "You do not have permission to perform this action."


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class Gone(ApplicationError):
    status_code = status.HTTP_410_GONE
    default_code = "gone"
    default_message = "This is no longer available."


class PayloadTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_message = "The payload is larger than allowed."


class RateLimited(ApplicationError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "throttled"
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        headers = {"Retry-After": str(max(1, int(retry_after)))}
        super().__init__(message, headers=headers, **kwargs)
        self.retry_after = max(1, int(retry_after))


class ServiceUnavailable(ApplicationError):
    """Every 503 tells the client when to try again (API.md: retry with the same
    client_message_id after Retry-After); without the header clients guess, or give up."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_message = "A service this request needs is unavailable; try again shortly."
    default_retry_after = 1

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("Retry-After", str(self.default_retry_after))


class PayloadTooLargeAPIException(drf_exceptions.APIException):
    """Raised from inside serializer fields: DRF lets non-ValidationErrors escape `is_valid`."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The payload is larger than allowed."
    default_code = "payload_too_large"


def _encodable(text: str) -> str:
    """`text` with each lone surrogate (JSON's "\\ud800", which no UTF-8 can carry) made U+FFFD.

    Error messages can echo what the client sent (DRF's `"x" is not a valid choice.`, a dict
    key): echoed as is, such a character made the JSON renderer fail, turning a 400 into a 500.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def envelope(detail: str, code: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": _encodable(str(detail)), "code": _encodable(str(code))}
    if errors:
        body["errors"] = {
            _encodable(str(field)): [_encodable(str(message)) for message in messages]
            if isinstance(messages, list)
            else _encodable(str(messages))
            for field, messages in errors.items()
        }
    return body


def _flatten_errors(detail: Any) -> dict[str, list[str]]:
    """DRF's nested ValidationError detail -> {"field": ["message", ...]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for field, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten_errors(value).items():
                    out[f"{field}.{sub}"] = messages
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub, messages in _flatten_errors(item).items():
                        out[f"{field}[{index}].{sub}"] = messages
            else:
                items = value if isinstance(value, list) else [value]
                out[str(field)] = [str(item) for item in items]
        return out
    items = detail if isinstance(detail, list) else [detail]
    return {"non_field_errors": [str(item) for item in items]}


def _first_code(detail: Any) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_code(value)
    if isinstance(detail, list) and detail:
        return _first_code(detail[0])
    return getattr(detail, "code", None) or "invalid"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER. Every exception from a DRF view ends here, unknown ones too."""
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLargeAPIException("The request body is larger than allowed.")
    elif isinstance(exc, SuspiciousOperation):
        # Django's verdict on the request itself (too many query or form fields, a bad multipart
        # boundary, ...): the client's fault, so a 400 rather than a logged 500. Django's own
        # handler answers these with 400 too; inside a DRF view they would land below.
        logger.warning("Suspicious request refused: %s", exc.__class__.__name__)
        exc = drf_exceptions.ParseError("The request is malformed.", code="bad_request")

    if isinstance(exc, ApplicationError):
        set_rollback()
        response = Response(
            envelope(exc.message, exc.code, exc.errors), status=exc.status_code, headers=exc.headers
        )
        return response

    if isinstance(exc, drf_exceptions.ValidationError):
        set_rollback()
        errors = _flatten_errors(exc.detail)
        code = _first_code(exc.detail)
        return Response(
            envelope("Invalid input.", code if code != "invalid" else "invalid", errors), status=400
        )

    if isinstance(exc, drf_exceptions.APIException):
        set_rollback()
        headers: dict[str, str] = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(max(1, int(exc.wait)))
        detail = exc.detail
        if isinstance(detail, dict | list):
            # simplejwt puts {"detail", "code", "messages"} here; keep the sentence and the code.
            message = detail.get("detail") if isinstance(detail, dict) else None
            code = detail.get("code") if isinstance(detail, dict) else None
            return Response(
                envelope(str(message or exc.default_detail), str(code or exc.default_code)),
                status=exc.status_code,
                headers=headers,
            )
        return Response(
            envelope(str(detail), getattr(detail, "code", None) or exc.default_code),
            status=exc.status_code,
            headers=headers,
        )

    if isinstance(exc, _UNAVAILABLE_BACKEND_ERRORS):
        # Redis (cache, throttle counters, denylist) gone or refusing writes at its maxmemory, or
        # the database refusing the work: this request cannot be served right now; the client
        # retries after Retry-After. Logged with its traceback, like a bug, for the operator.
        logger.exception("A backend is unavailable in %s", context.get("view").__class__.__name__)
        set_rollback()
        unavailable = ServiceUnavailable()
        return Response(
            envelope(unavailable.message, unavailable.code),
            status=unavailable.status_code,
            headers=unavailable.headers,
        )

    # Anything else is a bug: log it with its traceback, answer the envelope, never the trace.
    logger.exception("Unhandled exception in %s", context.get("view").__class__.__name__)
    set_rollback()
    return Response(envelope("Internal server error.", "server_error"), status=500)
