"""JWT sessions: issuing token pairs, and the revocation denylist every access check consults.

A login opens a *session*: a random `sid` claim carried by its refresh token and copied into
every access token minted from it (simplejwt copies refresh claims into the access token).
Logout blacklists the refresh token (database, simplejwt's token_blacklist app) and denylists,
in the cache, both the access token's `jti` and the session's `sid`, so every access token of
that session is refused until it would have expired anyway. Refresh rotation keeps the `sid`.

The denylist lives in the default cache: Redis in the real mode, shared by every process.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from messenger.core.exceptions import ServiceUnavailable

SESSION_CLAIM = "sid"
_JTI_KEY = "accounts:revoked:jti:{}"
_SID_KEY = "accounts:revoked:sid:{}"


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def _outstand(refresh: RefreshToken, user_id: Any) -> None:
    OutstandingToken.objects.create(
        user_id=user_id,
        jti=refresh[api_settings.JTI_CLAIM],
        token=str(refresh),
        created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )


def issue_token_pair(*, user_id: Any, session_id: str | None = None) -> TokenPair:
    """A new refresh token (recorded as outstanding) and its access token.

    `session_id` None opens a new session (login, registration); a refresh passes the old one.
    """
    refresh = RefreshToken()
    refresh[api_settings.USER_ID_CLAIM] = str(user_id)
    refresh[SESSION_CLAIM] = session_id or uuid.uuid4().hex
    _outstand(refresh, user_id)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def _access_lifetime_seconds() -> int:
    return int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())


def revoke_access(*, jti: str | None, session_id: str | None, exp: int | None = None) -> None:
    """Refuse this access token (`jti`) and every access token of this session (`sid`).

    Entries live only as long as a token they name could still be valid.
    """
    lifetime = _access_lifetime_seconds() + 60  # simplejwt's leeway is 0; 60 s covers clock skew
    if jti:
        remaining = int(exp - time.time()) + 60 if exp else lifetime
        if remaining > 0:
            cache.set(_JTI_KEY.format(jti), 1, timeout=remaining)
    if session_id:
        cache.set(_SID_KEY.format(session_id), 1, timeout=lifetime)


def is_access_revoked(payload: dict[str, Any]) -> bool:
    keys = []
    if payload.get(api_settings.JTI_CLAIM):
        keys.append(_JTI_KEY.format(payload[api_settings.JTI_CLAIM]))
    if payload.get(SESSION_CLAIM):
        keys.append(_SID_KEY.format(payload[SESSION_CLAIM]))
    if not keys:
        return False
    try:
        return bool(cache.get_many(keys))
    except Exception as exc:  # fail closed: without the denylist a logged-out token would pass
        raise ServiceUnavailable("Token revocation cannot be checked right now.") from exc


class RevokedTokenError(TokenError):
    pass


def decode_access_token(raw: str | bytes) -> AccessToken:
    """Signature, expiry, token type and the denylist: the one rule set for REST and sockets.

    Raises TokenError (RevokedTokenError for a logged-out session).
    """
    token = AccessToken(raw)
    if is_access_revoked(token.payload):
        raise RevokedTokenError("Token has been revoked")
    return token
