"""Request bodies past their route's limit are refused with 413 before they are read.

Django checks a body's size only when a view reads it, and under ASGI it is already too late
then: Django's ASGIHandler spools the whole body to a temporary file before any middleware or
view runs (600 MiB accepted, then a 413). So the limit is enforced in front of Django, at each
entry point the project runs under:

- ASGI (uvicorn, daphne): `BodyLimitMiddleware` wraps the application. A declared
  `Content-Length` past the limit is answered 413 without reading a byte; a chunked body is
  received here, cut off at the limit (413, `Connection: close`), and otherwise handed to Django
  with the Content-Length it turned out to have (DRF reads a body by its Content-Length alone).
- daphne: Twisted reads a request's whole body (to a temporary file) before daphne hands it to
  the application at all, so the ASGI middleware alone would come too late. `install_for_daphne`
  makes daphne's request class refuse the body while Twisted receives it.
- WSGI (gunicorn): `WSGIBodyLimitMiddleware` answers a declared length past the limit before
  Django reads anything, and reads a chunked body itself within the limit (Django's WSGI request
  reads by Content-Length alone, so a chunked body would otherwise look empty).

Routes in `settings.API_BEARER_BEFORE_BODY_ROUTES` (the upload) also want a Bearer access token
that verifies (signature, expiry, type) before their body is read: an anonymous client cannot
make the server take in 100 MiB just to answer 401. The view still runs the full authentication
(denylist, active user); this only decides whether the body is worth reading.

The limit: `settings.API_BODY_LIMIT_ROUTES` (path -> (bytes, error code)) for the routes that
take large bodies (the media upload), `settings.API_MAX_BODY_BYTES` for every other path. A
refused connection is closed: the rest of the body is never read, not even to discard it.

Every answer made here carries an X-Request-ID, as the app's own do (core.logging): the
proxy's id when well-formed, else a fresh one, and the refusal's log line carries the same id.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote

from asgiref.sync import sync_to_async
from django.conf import settings

from core.exceptions import envelope
from core.logging import request_id_for

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 64 * 1024
DEFAULT_CODE = "payload_too_large"


def body_limit(path: str) -> tuple[int, str]:
    """(bytes, error code) for a request to `path` (either form of a slash-optional route)."""
    route = path.rstrip("/") or "/"
    special = settings.API_BODY_LIMIT_ROUTES.get(route)
    if special is not None:
        return special
    return settings.API_MAX_BODY_BYTES, DEFAULT_CODE


def bearer_refusal(path: str, authorization: str | bytes | None) -> tuple[str, str] | None:
    """(code, detail) of the 401 a body to `path` gets before it is read, or None to read it."""
    if path.rstrip("/") not in settings.API_BEARER_BEFORE_BODY_ROUTES:
        return None
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.settings import api_settings
    from rest_framework_simplejwt.tokens import AccessToken

    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    parts = (authorization or "").split()
    if not parts:
        return "not_authenticated", "Authentication credentials were not provided."
    if len(parts) != 2 or parts[0] not in api_settings.AUTH_HEADER_TYPES:
        return "bad_authorization_header", "Authorization header must contain two space-delimited values"
    try:
        AccessToken(parts[1])  # signature, expiry and type: no query, no cache
    except (TokenError, OverflowError, ValueError, TypeError):
        return "token_not_valid", "Given token not valid for any token type"
    return None


def envelope_body(detail: str, code: str) -> bytes:
    return json.dumps(envelope(detail, code)).encode()


def refusal_body(limit: int, code: str) -> bytes:
    return envelope_body(f"The request body is larger than {limit} bytes.", code)


def bad_length_body() -> bytes:
    return envelope_body("The Content-Length header is malformed.", "bad_request")


def parse_content_length(value: str | bytes | None) -> int | None:
    """The declared length, None if absent; ValueError unless it is plain ASCII digits
    (`int()` would accept " 1", "+1", "1_000" and "١٢")."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


# --- ASGI ----------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _answer(send: Send, status: int, body: bytes, request_id: str) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read: the connection ends
        (b"x-request-id", request_id.encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="api"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _is_chunked(transfer_encoding: str | bytes | None) -> bool:
    if isinstance(transfer_encoding, bytes):
        transfer_encoding = transfer_encoding.decode("latin-1")
    return "chunked" in (transfer_encoding or "").lower()


def _spool() -> Any:
    # As Django spools a request body: in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE, then on disk.
    return tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)


class BodyLimitMiddleware:
    """ASGI middleware around Django's HTTP application (see the module docstring).

    A chunked body is received here, within the limit, and handed on with the Content-Length it
    turned out to have: DRF reads a body by its Content-Length alone (none: an empty body), so a
    chunked JSON body used to be ignored.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, code = body_limit(scope.get("path", ""))
        headers = dict(scope.get("headers", []))

        def answer(status: int, body: bytes, warning: tuple = ()) -> Awaitable[None]:
            # Only a refused request pays for its id; one that goes on gets it from the middleware.
            request_id = request_id_for(headers.get(b"x-request-id"))
            if warning:
                logger.warning(*warning, extra={"request_id": request_id})
            return _answer(send, status, body, request_id)

        try:
            declared = parse_content_length(headers.get(b"content-length"))
        except ValueError:
            await answer(400, bad_length_body())
            return
        if declared is not None and declared > limit:
            await answer(
                413,
                refusal_body(limit, code),
                ("Refused a %d-byte body to %s (limit %d)", declared, scope.get("path"), limit),
            )
            return
        chunked = declared is None and _is_chunked(headers.get(b"transfer-encoding"))
        if declared or chunked:
            refused = bearer_refusal(scope.get("path", ""), headers.get(b"authorization"))
            if refused:
                await answer(401, envelope_body(refused[1], refused[0]))
                return
        if chunked:
            body = await self._receive_chunked(receive, limit)
            if body is None:
                await answer(
                    413,
                    refusal_body(limit, code),
                    ("Cut off a body past %d bytes to %s", limit, scope.get("path")),
                )
                return
            if body is False:
                return  # the client went away
            length = body.tell()
            body.seek(0)
            scope = {**scope, "headers": [*scope["headers"], (b"content-length", str(length).encode())]}
            receive = self._replay(body, length, receive)
        await self.app(scope, receive, send)

    @staticmethod
    async def _receive_chunked(receive: Receive, limit: int) -> Any:
        """The whole body (a spooled file), None past `limit`, False if the client disconnected."""
        body = _spool()
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body.close()
                return False
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                body.close()
                return None
            if getattr(body, "_rolled", False):  # on disk: write off the event loop
                await sync_to_async(body.write, thread_sensitive=False)(chunk)
            else:
                body.write(chunk)
            if not message.get("more_body", False):
                return body

    @staticmethod
    def _replay(body: Any, length: int, receive: Receive) -> Receive:
        """A `receive` that hands out `body` again, then what the server sends (a disconnect)."""

        async def replay() -> dict[str, Any]:
            if body.closed:
                return await receive()
            chunk = body.read(READ_CHUNK_BYTES)
            more = body.tell() < length
            if not more:
                body.close()
            return {"type": "http.request", "body": chunk, "more_body": more}

        return replay


# --- daphne --------------------------------------------------------------------------------------


def _status_line(status: int) -> bytes:
    return {400: b"400 Bad Request", 401: b"401 Unauthorized", 413: b"413 Payload Too Large"}[status]


def install_for_daphne() -> None:
    """Make daphne's request class enforce the limit while Twisted receives the body.

    daphne builds each request from the module attribute `daphne.http_protocol.WebRequest`
    (HTTPFactory.buildProtocol), so replacing it reaches every connection; without daphne
    installed this does nothing. Idempotent.
    """
    try:
        from daphne import http_protocol
    except ImportError:  # pragma: no cover - daphne is a dependency, but not every process needs it
        return
    if getattr(http_protocol.WebRequest, "body_limited", False):
        return

    class LimitedWebRequest(http_protocol.WebRequest):  # type: ignore[name-defined,misc]
        body_limited = True
        _refused = False
        _received = 0
        _limit = 0
        _code = DEFAULT_CODE

        def gotLength(self, length: int | None) -> None:
            super().gotLength(length)
            uri = getattr(self.channel, "_path", b"") or b""
            path = unquote(uri.split(b"?", 1)[0].decode("latin-1"))
            self._limit, self._code = body_limit(path)
            if length is not None and length > self._limit:
                self._refuse(
                    413,
                    refusal_body(self._limit, self._code),
                    ("Refused a %d-byte body (limit %d)", length, self._limit),
                )
            elif length is None or length > 0:  # a body is coming (chunked, or declared)
                authorization = (self.requestHeaders.getRawHeaders(b"authorization") or [None])[0]
                refused = bearer_refusal(path, authorization)
                if refused:
                    self._refuse(401, envelope_body(refused[1], refused[0]))

        def handleContentChunk(self, data: bytes) -> None:
            if self._refused:
                return  # arriving before the connection closes: dropped, never stored
            self._received += len(data)
            if self._received > self._limit:
                self._refuse(
                    413, refusal_body(self._limit, self._code), ("Cut off a body past %d bytes", self._limit)
                )
                return
            super().handleContentChunk(data)

        def process(self) -> Any:
            if self._refused:
                return None
            return super().process()

        def _refuse(self, status: int, body: bytes, warning: tuple = ()) -> None:
            # As Twisted answers a malformed request itself: the response on the wire, then the
            # connection closed. The application never sees this request.
            self._refused = True
            request_id = request_id_for((self.requestHeaders.getRawHeaders(b"x-request-id") or [None])[0])
            if warning:
                logger.warning(*warning, extra={"request_id": request_id})
            challenge = b'WWW-Authenticate: Bearer realm="api"\r\n' if status == 401 else b""
            head = (
                b"HTTP/1.1 " + _status_line(status) + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\n"
                + challenge
                + b"X-Request-ID: "
                + request_id.encode()
                + b"\r\nConnection: close\r\n\r\n"
            )
            self.channel.transport.write(head + body)
            self.channel.loseConnection()

    http_protocol.WebRequest = LimitedWebRequest


# --- WSGI ----------------------------------------------------------------------------------------

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _wsgi_answer(
    environ: dict[str, Any], start_response: StartResponse, status: int, body: bytes, warning: tuple = ()
) -> list[bytes]:
    request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID"))
    if warning:
        logger.warning(*warning, extra={"request_id": request_id})
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-Request-ID", request_id),
    ]
    if status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="api"'))
    start_response(
        {400: "400 Bad Request", 401: "401 Unauthorized", 413: "413 Payload Too Large"}[status], headers
    )
    # WSGI forbids an application's Connection header; gunicorn's start_response belongs to its
    # Response, whose force_close() ends the connection after this response instead of reading
    # (to discard) the rest of the body for keep-alive. Other servers have no such method.
    force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
    if callable(force_close):
        force_close()
    return [body]


class WSGIBodyLimitMiddleware:
    """WSGI middleware around Django's application (see the module docstring)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        limit, code = body_limit(environ.get("PATH_INFO", ""))
        try:
            declared = parse_content_length(environ.get("CONTENT_LENGTH") or None)
        except ValueError:
            return _wsgi_answer(environ, start_response, 400, bad_length_body())
        if declared is not None and declared > limit:
            return _wsgi_answer(
                environ,
                start_response,
                413,
                refusal_body(limit, code),
                ("Refused a %d-byte body to %s (limit %d)", declared, environ.get("PATH_INFO"), limit),
            )
        chunked = declared is None and _is_chunked(environ.get("HTTP_TRANSFER_ENCODING"))
        if declared or chunked:
            refused = bearer_refusal(environ.get("PATH_INFO", ""), environ.get("HTTP_AUTHORIZATION"))
            if refused:
                return _wsgi_answer(environ, start_response, 401, envelope_body(refused[1], refused[0]))
        if chunked:
            body = self._read_chunked(environ["wsgi.input"], limit)
            if body is None:
                return _wsgi_answer(
                    environ,
                    start_response,
                    413,
                    refusal_body(limit, code),
                    ("Cut off a body past %d bytes to %s", limit, environ.get("PATH_INFO")),
                )
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = body, str(body.tell())
            body.seek(0)
        return self.app(environ, start_response)

    @staticmethod
    def _read_chunked(stream: Any, limit: int) -> Any:
        """The body (a spooled file, on disk past FILE_UPLOAD_MAX_MEMORY_SIZE), or None past `limit`."""
        body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115 (returned open)
        received = 0
        while chunk := stream.read(READ_CHUNK_BYTES):
            received += len(chunk)
            if received > limit:
                body.close()
                return None
            body.write(chunk)
        return body
