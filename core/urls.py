"""Route helpers: every API route answers with and without its trailing slash (docs/API.md)."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path


def slash_optional(route: str, view: Any, name: str | None = None) -> list[URLPattern]:
    """`slash_optional("messages/send", view, "message-send")` -> both forms, no redirect."""
    route = route.rstrip("/")
    return [path(route, view, name=name), path(f"{route}/", view)]
