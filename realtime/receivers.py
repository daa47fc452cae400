"""What the gateway does when accounts says access has ended (accounts.events.access_revoked)."""

from __future__ import annotations

import logging
from typing import Any

from core.events import realtime_user_group_name, send_now

logger = logging.getLogger(__name__)

# The consumer's handler for it (`access_revoked`).
ACCESS_REVOKED_TYPE = "access.revoked"


def close_revoked_sockets(sender: Any, *, user_id: Any, session_id: str | None = None, **kwargs: Any) -> None:
    """Through the channel layer, so the user's sockets close in whichever process holds them:
    a logout closes that session's sockets, a ban or a deletion (no session) all of them."""
    try:
        send_now([realtime_user_group_name(user_id)], {"type": ACCESS_REVOKED_TYPE, "session_id": session_id})
    except Exception:  # the revocation itself is durable; sockets then fail their next auth check
        logger.exception("Could not tell sockets of a revoked session to close")
