"""Single-use WebSocket tickets: how a socket authenticates without a JWT in its URL.

`POST /api/v1/auth/ws-ticket` hands out a random ticket valid REALTIME_TICKET_TTL_SECONDS (30 s);
`/ws/?ticket=` redeems it once. Only its SHA-256 is stored (in the default cache: Redis in the
real mode, so any process redeems what any other issued), so neither the cache nor a log line
holds a usable credential. The ticket carries the issuing token's session, so a logout of that
session refuses it like the session's access tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.core.cache import cache

_KEY = "realtime:ticket:{}"


@dataclass(frozen=True)
class TicketClaims:
    user_id: UUID
    session_id: str | None
    jti: str | None


def _key(ticket: str) -> str:
    return _KEY.format(hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest())


def ticket_issue(*, user_id: UUID, session_id: str | None, jti: str | None) -> str:
    ticket = secrets.token_urlsafe(32)
    cache.set(
        _key(ticket),
        {"user_id": str(user_id), "sid": session_id, "jti": jti},
        timeout=settings.REALTIME_TICKET_TTL_SECONDS,
    )
    return ticket


def ticket_redeem(ticket: str) -> TicketClaims | None:
    """The claims of an unused, unexpired ticket, consuming it; None otherwise.

    Two sockets racing with one ticket both read it, but the cache's delete reports whether it
    removed the key (Redis DEL's count), so exactly one of them wins.
    """
    if not ticket or len(ticket) > 256:
        return None
    key = _key(ticket)
    claims = cache.get(key)
    if not claims or not cache.delete(key):
        return None
    return TicketClaims(user_id=UUID(claims["user_id"]), session_id=claims.get("sid"), jti=claims.get("jti"))
