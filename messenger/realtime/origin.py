"""Origin check for the WebSocket handshake.

Channels' AllowedHostsOriginValidator refuses a handshake without an Origin header, which apps
and scripts never send. Our sockets authenticate by token, not cookie, so a missing Origin is
fine; a browser's Origin must be in WEBSOCKET_ALLOWED_ORIGINS (or, with that empty, match
ALLOWED_HOSTS).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.request import validate_host


class OptionalOriginValidator(OriginValidator):
    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                origin = value.decode("latin1")
                break
        if origin is None:
            return await self.application(scope, receive, send)
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return False
        origin = f"{parsed_origin.scheme}://{parsed_origin.netloc}"
        if settings.WEBSOCKET_ALLOWED_ORIGINS:
            return origin in settings.WEBSOCKET_ALLOWED_ORIGINS
        host = urlparse(origin).hostname or ""
        allowed = settings.ALLOWED_HOSTS or []
        return validate_host(host, allowed)
