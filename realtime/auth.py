"""Who a socket belongs to: an access JWT from the `auth` frame, or a redeemed ticket.

Both paths end in the rules REST applies (accounts.tokens.decode_access_token: signature, expiry,
type, the logout denylist; and an active user), so a banned user or a logged-out session cannot
open a socket that REST would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings

from accounts.selectors import active_user_for_token_claim
from accounts.tokens import SESSION_CLAIM, decode_access_token, is_access_revoked
from realtime.tickets import ticket_redeem


@dataclass(frozen=True)
class SocketIdentity:
    user_id: UUID
    session_id: str | None
    jti: str | None


def identity_from_access_token(token: object) -> SocketIdentity | None:
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    try:
        access = decode_access_token(token)
    except TokenError:
        return None
    user = active_user_for_token_claim(user_id=access.get(api_settings.USER_ID_CLAIM))
    if user is None:
        return None
    return SocketIdentity(
        user_id=user.pk, session_id=access.get(SESSION_CLAIM), jti=access.get(api_settings.JTI_CLAIM)
    )


def identity_from_ticket(ticket: str) -> SocketIdentity | None:
    claims = ticket_redeem(ticket)
    if claims is None:
        return None
    # The session may have logged out (or the user been banned) since the ticket was issued.
    if is_access_revoked({api_settings.JTI_CLAIM: claims.jti, SESSION_CLAIM: claims.session_id}):
        return None
    user = active_user_for_token_claim(user_id=claims.user_id)
    if user is None:
        return None
    return SocketIdentity(user_id=user.pk, session_id=claims.session_id, jti=claims.jti)
