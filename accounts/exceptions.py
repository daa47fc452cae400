"""Errors of the accounts app, each with a stable code (rendered by core's handler)."""

from __future__ import annotations

from rest_framework import status

from core.exceptions import ApplicationError, NotFound


class Unauthorized(ApplicationError):
    """401 with the challenge header RFC 7235 asks for, like DRF's own 401s."""

    status_code = status.HTTP_401_UNAUTHORIZED

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": 'Bearer realm="api"'})


class InvalidCredentials(Unauthorized):
    """Unknown login and wrong password look exactly alike (no account oracle)."""

    default_code = "invalid_credentials"
    default_message = "The login or the password is wrong."


class TokenInvalid(Unauthorized):
    """A refresh token that is malformed, expired, already used, revoked or not the caller's."""

    default_code = "token_not_valid"
    default_message = "The token is invalid, expired or already used."


class VerificationTokenInvalid(ApplicationError):
    default_code = "invalid_token"
    default_message = "This verification link is invalid, expired or already used."


class UserNotFound(NotFound):
    default_code = "user_not_found"
    default_message = "User not found."


class KeysNotFound(NotFound):
    default_code = "keys_not_found"
    default_message = "This user has no prekey bundle."


class KeyBackupNotFound(NotFound):
    default_code = "key_backup_not_found"
    default_message = "You have no key backup."
