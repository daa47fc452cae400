"""Ids as services and selectors take them: a UUID, or its text from a URL, a frame or a task."""

from __future__ import annotations

from typing import Any
from uuid import UUID


def as_uuid(value: UUID | str) -> UUID:
    """`value` as a UUID; ValueError for text that is not one."""
    return value if isinstance(value, UUID) else UUID(str(value))


def as_uuid_or_none(value: Any) -> UUID | None:
    """`value` as a UUID, or None for anything that is not one (a caller that answers "not
    found" for a malformed id, as for an unknown one)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None
