"""HTTP under an ASGI server, served by Django's WSGI handler on a pool of threads.

Why: Django's own ASGI handler runs every synchronous view (all of ours: DRF) on one thread per
process (`thread_sensitive`), so one uvicorn process served one request at a time, waits on the
database included: `make run` was 2-3x slower than the deploy topology (gunicorn, 8 threads a
worker). This app gives the ASGI server what gunicorn's gthread workers have, N requests at once,
while `/ws/` stays on the same port and event loop (messenger.asgi routes by protocol).

How: each request runs `WSGIHandler(environ, start_response)` in one of `threads` threads, through
asgiref's `sync_to_async(thread_sensitive=False)` so that `async_to_sync` inside a view (the
publisher, the in-memory channel layer of the embedded mode) still runs on the server's loop.
The request body is read from the ASGI `receive` as the view reads it (an upload is never held
whole: the server's flow control applies); the response goes out in one hop for an ordinary
body, in pieces of up to 64 KiB for a streamed one. Body limits stay in front of this app
(core.bodylimit's ASGI middleware), as they stay in front of Django under gunicorn.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

SEND_PIECE_BYTES = 64 * 1024


class ClientDisconnected(OSError):
    """The client went away while the view read its body (Django: UnreadablePostError)."""


class _Exchange:
    """One request's two streams, used from the worker thread: `wsgi.input` reads from the
    server's `receive`, `send` hands messages to the server's loop (one hop per call)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive, send: Send) -> None:
        self.loop = loop
        self.receive = receive
        self._send = send
        self.buffer = bytearray()
        self.more_body = True
        self.start: dict[str, Any] | None = None  # http.response.start, until it is sent
        self.started = False

    # --- wsgi.input -----------------------------------------------------------------------------

    def _pull(self) -> None:
        message = asyncio.run_coroutine_threadsafe(self.receive(), self.loop).result()
        if message["type"] == "http.disconnect":
            self.more_body = False
            raise ClientDisconnected("The client disconnected while sending the body.")
        self.buffer += message.get("body", b"")
        self.more_body = message.get("more_body", False)

    def read(self, size: int | None = -1) -> bytes:
        while self.more_body and (size is None or size < 0 or len(self.buffer) < size):
            self._pull()
        if size is None or size < 0:
            size = len(self.buffer)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        while (
            self.more_body
            and b"\n" not in self.buffer
            and (size is None or size < 0 or len(self.buffer) < size)
        ):
            self._pull()
        end = self.buffer.find(b"\n") + 1 or len(self.buffer)
        if size is not None and size >= 0:
            end = min(end, size)
        return self.read(end)

    def __iter__(self) -> Any:
        while line := self.readline():
            yield line

    # --- the response ---------------------------------------------------------------------------

    def send(self, body: bytes, *, more_body: bool) -> bool:
        """Hand a piece of the body (after the status and headers, the first time) to the
        server; False when the client has gone away (the server refused to send)."""
        messages = []
        if not self.started:
            if self.start is None:
                raise RuntimeError("The WSGI application returned without calling start_response.")
            messages.append(self.start)
            self.started = True
        messages.append({"type": "http.response.body", "body": body, "more_body": more_body})
        try:
            asyncio.run_coroutine_threadsafe(self._send_all(messages), self.loop).result()
        except OSError:  # uvicorn's ClientDisconnected is one
            return False
        return True

    async def _send_all(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await self._send(message)


def wsgi_environ(scope: Scope, body: Any) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP scope (what gunicorn builds from the request line)."""
    script_name = scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name) :]
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if scope.get("client"):
        environ["REMOTE_ADDR"] = scope["client"][0]
        environ["REMOTE_PORT"] = str(scope["client"][1])
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin1").upper().replace("-", "_")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        value = raw_value.decode("latin1")
        # Repeated headers are joined, as a WSGI server does (RFC 9110: a comma-separated list).
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class ThreadPoolWSGIApp:
    """An ASGI application for `http` scopes that runs `wsgi_app` on `threads` threads."""

    def __init__(self, wsgi_app: WSGIApp, *, threads: int) -> None:
        self.wsgi_app = wsgi_app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")
        self._serve_in_thread = sync_to_async(self._serve, thread_sensitive=False, executor=self.executor)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"ThreadPoolWSGIApp serves http, not {scope['type']}")
        exchange = _Exchange(asyncio.get_running_loop(), receive, send)
        await self._serve_in_thread(scope, exchange)

    def _serve(self, scope: Scope, exchange: _Exchange) -> None:
        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None and exchange.started:
                raise exc_info[1].with_traceback(exc_info[2])
            exchange.start = {
                "type": "http.response.start",
                "status": int(status.split(" ", 1)[0]),
                "headers": [
                    (name.lower().encode("latin1"), value.encode("latin1")) for name, value in headers
                ],
            }
            return lambda data: exchange.send(data, more_body=True)  # PEP 3333's write()

        result = self.wsgi_app(wsgi_environ(scope, exchange), start_response)
        try:
            # Pieces are gathered up to SEND_PIECE_BYTES, and the last goes with the end of the
            # body: an ordinary response (one piece) is a single hop to the loop.
            pending = bytearray()
            for chunk in result:
                if len(pending) >= SEND_PIECE_BYTES:
                    if not exchange.send(bytes(pending), more_body=True):
                        break  # the client went away mid-response: nothing left to tell it
                    pending.clear()
                pending += chunk
            else:
                exchange.send(bytes(pending), more_body=False)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django's request_finished: the database connection goes back
