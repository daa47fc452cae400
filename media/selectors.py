"""Reads of media.

FOUNDATION STUB for `attachments_metadata`: the contract messaging and groups render
`attachments` with; the media issue (#7) implements it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID


def attachments_metadata(*, media_ids: Iterable[UUID]) -> dict[UUID, dict[str, Any]]:
    """`<media>` metadata (no download_url) for each id, in one query; missing ids are absent."""
    return {}
