"""Reads of presence: who of a list the viewer may see online, and since when offline."""

from __future__ import annotations

from uuid import UUID

from accounts.selectors import last_seen_of_active_users
from contacts.selectors import accepted_contact_ids_among
from presence.events import PresenceStatus
from presence.store import get_store


def presence_for_viewer(*, viewer_id: UUID, user_ids: list[UUID]) -> list[PresenceStatus]:
    """Presence of those of `user_ids` who are the viewer's accepted contacts (and active), in
    the order asked; the others are left out, as if unknown. Two queries and one store read."""
    visible = accepted_contact_ids_among(user_id=viewer_id, candidate_ids=user_ids)
    if not visible:
        return []
    last_seen = last_seen_of_active_users(user_ids=visible)
    online = get_store().online_among(user_ids=list(last_seen))
    return [
        PresenceStatus(
            user_id=user_id,
            online=user_id in online,
            last_seen=None if user_id in online else last_seen[user_id],
        )
        for user_id in user_ids
        if user_id in last_seen
    ]
