"""Reads of groups.

FOUNDATION STUB for `group_ids_for_user`: realtime joins a socket to each of these chat groups;
the groups issue (#6) implements it (and the rest).
"""

from __future__ import annotations

from uuid import UUID


def group_ids_for_user(*, user_id: UUID | str) -> list[UUID]:
    """Ids of the chat groups the user is currently a member of."""
    return []


def group_sync_items(*, user_id: UUID | str, since: int, limit: int) -> list[dict]:
    """For messaging's /sync: the group events the user may see with stream position > since,
    oldest first, at most `limit`. Each item: {"position": int, "type": "group.message.new",
    "data": <group message as the member sees it (their own wrapped key only)>}."""
    return []
