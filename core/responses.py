"""Response helpers every app's views share."""

from __future__ import annotations

from typing import TypeVar

from django.http import HttpResponseBase

R = TypeVar("R", bound=HttpResponseBase)


def no_store(response: R) -> R:
    """A response carrying credentials (tokens, WebSocket tickets) must not be kept by any cache,
    shared or the browser's (RFC 6749 5.1; Pragma for HTTP/1.0 caches)."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
