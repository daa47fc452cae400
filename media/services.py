"""Writes of media.

FOUNDATION STUB for `grant_media_access`: the signature is the contract messaging and groups code
against; the media issue (#7) implements it (and everything else here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from media.exceptions import MediaNotOwned


def grant_media_access(*, media_ids: Sequence[UUID], owner_id: UUID, grantee_ids: Iterable[UUID]) -> None:
    """Let `grantee_ids` read each of `media_ids`, which must all be `owner_id`'s uploads.

    Raises MediaNotOwned (400) if any id is unknown or another user's; grants nothing then.
    Called inside the sender's transaction (messaging, groups), so a failed send grants nothing.
    """
    if media_ids:
        raise MediaNotOwned()
