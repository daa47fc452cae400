"""REST authentication: `Authorization: Bearer <access JWT>`, checked on every request.

Same rules as the WebSocket gateway (accounts.selectors.user_from_access_token): signature,
expiry, token type, the logout denylist (jti and session), and an active user. A ban or a
deletion deactivates the user, so their live access token is refused on its next request.
Cost: one cache read (the denylist) and one indexed query (the user), whatever the endpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from core.logging import bind_user

if TYPE_CHECKING:
    from accounts.models import User

# DRF imports this module while rest_framework.views is still loading (DEFAULT_AUTHENTICATION_CLASSES),
# and accounts.selectors/tokens import core.exceptions, which imports rest_framework.views:
# so they are imported inside the methods.


class AccessTokenAuthentication(JWTAuthentication):
    def get_validated_token(self, raw_token: bytes) -> Token:
        from accounts.tokens import RevokedTokenError, decode_access_token

        try:
            return decode_access_token(raw_token)
        except RevokedTokenError as exc:
            raise InvalidToken({"detail": "This token has been revoked.", "code": "token_revoked"}) from exc
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc), "code": "token_not_valid"}) from exc

    def get_user(self, validated_token: Token) -> User:
        from accounts.selectors import active_user_for_token_claim

        user = active_user_for_token_claim(user_id=validated_token.get(api_settings.USER_ID_CLAIM))
        if user is None:
            # Unknown, banned and deleted look alike to the caller.
            raise AuthenticationFailed("This account is not active.", code="user_inactive")
        bind_user(user.pk)  # the request's later log lines name the user
        return user
