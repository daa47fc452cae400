"""Origin check for the WebSocket handshake.

Channels' AllowedHostsOriginValidator refuses a handshake without an Origin header, which apps
and scripts never send. Our sockets authenticate by token, not cookie, so a missing Origin is
fine; a browser's Origin must be in WEBSOCKET_ALLOWED_ORIGINS, or, with that empty, be the very
origin the socket was opened on: the same scheme (http for ws, https for wss), host and port as
the request's Host header (a host in ALLOWED_HOSTS). Matching the host name alone would let a
page served from another port of the same host (another app, a dev server) open sockets.

Behind a proxy that terminates TLS or rewrites Host (deploy/nginx/messenger.conf.template), set
WEBSOCKET_ALLOWED_ORIGINS: the request the app sees is not the one the browser made.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def origin_allowed(origin: str, scope: dict[str, Any]) -> bool:
    parsed = urlparse(origin)
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.hostname:
        return False
    if settings.WEBSOCKET_ALLOWED_ORIGINS:
        return f"{parsed.scheme}://{parsed.netloc}" in settings.WEBSOCKET_ALLOWED_ORIGINS
    try:
        origin_port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    except ValueError:  # a port that is not a number, or out of range
        return False
    host_header = _header(scope, b"host")
    if not host_header:
        return False
    host, port = split_domain_port(host_header.lower())
    if not host or not validate_host(host, settings.ALLOWED_HOSTS or []):
        return False
    request_scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    request_port = int(port) if port else _DEFAULT_PORTS[request_scheme]
    # An IPv6 literal: Host keeps its brackets ("[::1]"), urlparse's hostname has none.
    request_host = host.removeprefix("[").removesuffix("]")
    return (parsed.scheme, parsed.hostname, origin_port) == (request_scheme, request_host, request_port)


class OptionalOriginValidator:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = _header(scope, b"origin")
        if origin is None or origin_allowed(origin, scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
