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
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import aware_utcnow, datetime_from_epoch

from core.exceptions import ServiceUnavailable

SESSION_CLAIM = "sid"
T = TypeVar("T", AccessToken, RefreshToken)
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


def _is_epoch(value: Any) -> bool:
    # An int within datetime's range: simplejwt turns exp into a datetime (OverflowError past
    # year 9999, `exp=1e20`) and PyJWT int()s exp/iat/nbf (OverflowError on `1e400`, i.e. inf).
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 253402300800


def _check_claims(payload: dict[str, Any]) -> None:
    """The claims this server puts in a token, each of the shape it gives them; else TokenError.

    Only a token bearing this server's signature gets here, so a wrong shape is a key leak or a
    bug, never a client's mistake; refusing it (401) beats a 500 further down.
    """
    for name in ("exp", "iat", "nbf"):
        if name in payload and not _is_epoch(payload[name]):
            raise TokenError(f"Token has a malformed '{name}' claim")
    if "exp" not in payload:
        raise TokenError("Token has no 'exp' claim")
    for name, longest in ((api_settings.JTI_CLAIM, 255), (SESSION_CLAIM, 64)):
        value = payload.get(name)
        if value is not None and not (
            isinstance(value, str) and 0 < len(value) <= longest and value.isascii() and value.isprintable()
        ):
            raise TokenError(f"Token has a malformed '{name}' claim")
    user_id = payload.get(api_settings.USER_ID_CLAIM)
    try:
        uuid.UUID(user_id)
    except (TypeError, ValueError, AttributeError):
        raise TokenError("Token has no valid user id") from None


def _token_from_payload(token_class: type[T], raw: str | bytes, payload: dict[str, Any]) -> T:
    """What `token_class(raw)` builds, from the payload decoded and checked above: simplejwt's
    constructor would decode and check the signature a second time (every request pays it)."""
    token = token_class.__new__(token_class)
    token.token = raw  # type: ignore[assignment]  # simplejwt annotates it as a Token
    token.current_time = aware_utcnow()
    token.payload = payload
    token.verify()  # expiry, jti, token type; a refresh token's blacklist: as the constructor does
    return token


def parse_token(token_class: type[T], raw: str | bytes) -> T:
    """`token_class(raw)` (signature, expiry, type; for a refresh token, not blacklisted) with
    every claim checked for shape: raises TokenError for any token that is not one of ours."""
    try:
        # Signature first, then the claims' shapes, before simplejwt reads them (its verify()
        # looks the jti up in the blacklist table and turns exp into a datetime).
        # simplejwt annotates the encoded token as a Token: it is the str (or bytes).
        payload = token_backend.decode(raw, verify=True)  # type: ignore[arg-type]
        _check_claims(payload)
        return _token_from_payload(token_class, raw, payload)
    except TokenBackendError as exc:
        raise TokenError(str(exc.args[0]) if exc.args else "Token is invalid") from exc
    except (OverflowError, ValueError, TypeError) as exc:
        # A signed claim PyJWT cannot read: a 1e400 (inf) exp/iat/nbf, a header of the wrong type.
        raise TokenError("Token is invalid") from exc


def decode_access_token(raw: str | bytes) -> AccessToken:
    """Signature, expiry, token type, claim shapes and the denylist: the one rule set for REST
    and sockets.

    Raises TokenError (RevokedTokenError for a logged-out session).
    """
    token = parse_token(AccessToken, raw)
    if is_access_revoked(token.payload):
        raise RevokedTokenError("Token has been revoked")
    return token
