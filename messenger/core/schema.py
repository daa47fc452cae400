"""drf-spectacular hooks."""

from __future__ import annotations

from typing import Any


def drop_trailing_slash_twins(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list:
    """Every route exists with and without its slash; document only the slashless one."""
    paths = {path for path, *_ in endpoints}
    return [
        endpoint
        for endpoint in endpoints
        if not (endpoint[0].endswith("/") and endpoint[0].rstrip("/") in paths)
    ]
