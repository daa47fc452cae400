"""Logs: who and which request each line is about, and never a credential or a ciphertext.

- Context: a request id (the trusted proxy's X-Request-ID, or one made here: RequestIdMiddleware),
  the user id once authenticated, and on sockets a connection id plus a per-frame id. They live in
  contextvars, so a line logged anywhere below (a service, a selector, a Celery task enqueued by
  the request: messenger/celery.py carries the id in the task's headers) carries them;
  RequestContext copies them onto every record.
- Format (LOG_FORMAT): `json`, one object a line (the default in real mode, for a log pipeline),
  or `text`, readable (the default in the embedded mode).
- Redaction, last, on the formatted line (message, arguments and traceback alike): uvicorn and
  daphne log each handshake with its query string (`/ws/?ticket=...`), a traceback can quote a
  request body. Tickets, tokens, passwords, keys, Bearer headers, JWTs and base64 runs long
  enough to be a ciphertext or a key are replaced before any handler writes them.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)
connection_id_var: ContextVar[str | None] = ContextVar("connection_id", default=None)
frame_id_var: ContextVar[str | None] = ContextVar("frame_id", default=None)
CONTEXT = {"request_id": request_id_var, "user_id": user_id_var, "connection_id": connection_id_var,
           "frame_id": frame_id_var}  # fmt: skip

# key=value (query strings, form bodies) and "key": "value" (JSON) of a credential's name.
_SECRET_NAMES = "|".join(
    (
        *("ticket", "token", "access_token", "refresh_token", "refresh", "access", "jwt"),
        *("password", "new_password", "current_password", "secret", "api_key", "key"),
        *("signature", "x-amz-signature", "encrypted_content", "encrypted_session_key"),
        *("payload", "ciphertext"),
    )
)
_CREDENTIAL = re.compile(rf"\b({_SECRET_NAMES})=([^&\s\"']+)", re.IGNORECASE)
_JSON_CREDENTIAL = re.compile(rf"(\"|')({_SECRET_NAMES})\1(\s*:\s*)(\"|')((?:\\.|(?!\4).)*)\4", re.IGNORECASE)
_BEARER = re.compile(r"\b(Bearer)\s+[^\s\"',]+", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
# 40+ characters of the base64 alphabets in a row with upper case, lower case and digits: a
# ciphertext, a key or a token (random base64 of that length has all three, almost surely), never
# a word, a path of lower-case segments, a uuid or a hex request id.
_BASE64_RUN = re.compile(r"(?<![\w+/-])[A-Za-z0-9+/_-]{40,}={0,2}(?![\w+/=-])")


def _random_looking(match: re.Match[str]) -> str:
    run = match.group()
    if any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run):
        return REDACTED
    return run


REDACTED = "[redacted]"


def redact(text: str) -> str:
    text = _CREDENTIAL.sub(rf"\1={REDACTED}", text)
    text = _JSON_CREDENTIAL.sub(rf"\1\2\1\3\4{REDACTED}\4", text)
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _BASE64_RUN.sub(_random_looking, text)


class RedactCredentials(logging.Filter):
    """For handlers with a formatter of their own: the record's message, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class DropQueryStrings(logging.Filter):
    """The ASGI servers' own lines name a request by its path and query string: uvicorn's access
    line (`"GET /api/v1/users/search?q=... HTTP/1.1" 200`) and its WebSocket handshake line
    (`"WebSocket /ws/?ticket=..." [accepted]`), whatever flags it was started with. Query strings
    carry search terms and tickets: each path argument keeps its path alone, as nginx's and
    gunicorn's access logs do (deploy/)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_is_path_with_query(arg) for arg in record.args):
            record.args = tuple(
                arg.split("?", 1)[0] if _is_path_with_query(arg) else arg for arg in record.args
            )
        return True


def _is_path_with_query(value: object) -> bool:
    return isinstance(value, str) and value.startswith("/") and "?" in value


class RequestContext(logging.Filter):
    """Copies the request/user/connection/frame ids in context onto the record (None if unset)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in CONTEXT.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name in CONTEXT if (value := getattr(record, name, None)) is not None}


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message [request_id=... user_id=...]`, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{name}={value}" for name, value in _context(record).items())
        return redact(f"{line} [{context}]" if context else line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the context ids, plain extra fields
    a caller passed (`extra={"status": 200}`), and the traceback if any; redacted."""

    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", *CONTEXT}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **_context(record),
        }
        for name, value in record.__dict__.items():
            # Plain values only: Celery's `data` dict repeats the message's arguments.
            if name not in self._STANDARD and not name.startswith("_"):
                if isinstance(value, str):
                    entry[name] = redact(value)
                elif isinstance(value, (int, float, bool, type(None))):
                    entry[name] = value
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        # Each value redacted before encoding (JSON escapes the quotes the patterns look for),
        # and the line again after.
        return redact(json.dumps(entry, ensure_ascii=False))

    converter = time.gmtime


# An id a proxy may hand us: what nginx's $request_id (32 hex) and common tracers send, bounded;
# anything else (a client's free text through a proxy that passes it on) is replaced.
_INCOMING_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
request_logger = logging.getLogger("messenger.request")


def request_id_for(incoming: str | bytes | None) -> str:
    """The id a request is logged and answered under: its X-Request-ID when well-formed, else a
    fresh one. Shared by the middleware and the body-limit wrapper that answers before it."""
    if isinstance(incoming, bytes):
        incoming = incoming.decode("latin-1")
    return incoming if incoming and _INCOMING_ID.fullmatch(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """The request's id (incoming X-Request-ID when well-formed, else a fresh one) in context for
    every log line, echoed in the response's X-Request-ID; and one access line per request with
    its method, path (never the query string), status, duration and user id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.headers.get("X-Request-ID"))
        request.request_id = request_id  # type: ignore[attr-defined]
        tokens = [(request_id_var, request_id_var.set(request_id)), (user_id_var, user_id_var.set(None))]
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return response
        finally:
            for var, token in reversed(tokens):
                var.reset(token)


def bind_user(user_id: object) -> None:
    """Called once a request's user is known (REST authentication): its later lines carry it."""
    user_id_var.set(str(user_id))
