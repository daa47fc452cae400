"""Every write of accounts: registration, sessions, verification, profiles, keys, bans, deletion.

Services take keyword arguments, never a request, so REST, admin actions and tests share them.
Signals to the apps above (accounts.events) go out inside the transaction where the higher app
must act atomically with us (registration, deletion) and on commit where they tell the outside
world something happened (access_revoked: sockets close only once the change is durable).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts import events, ratelimit, selectors
from accounts.exceptions import (
    InvalidCredentials,
    KeyBackupNotFound,
    KeysNotFound,
    TokenInvalid,
    UserNotFound,
    VerificationTokenInvalid,
)
from accounts.models import (
    DeletedUser,
    IdentityKeys,
    KeyBackup,
    OneTimePrekey,
    User,
    validate_unreserved_email,
    validate_unreserved_username,
)
from accounts.tokens import (
    SESSION_CLAIM,
    TokenPair,
    is_access_revoked,
    issue_token_pair,
    parse_token,
    revoke_access,
)
from core.events import publish
from core.exceptions import ApplicationError, Conflict, Forbidden, NotFound
from notifications.services import email_enqueue

logger = logging.getLogger(__name__)

_VERIFY_SALT = "accounts.verify-email"


# --- Registration and email verification ---------------------------------------------------------


def _reserved_errors(*, email: str, username: str) -> dict[str, list[str]]:
    """The shapes account deletion writes: never registrable, whoever calls (accounts.models)."""
    errors: dict[str, list[str]] = {}
    for name, value, validate in (
        ("email", email, validate_unreserved_email),
        ("username", username, validate_unreserved_username),
    ):
        try:
            validate(value)
        except DjangoValidationError as exc:
            errors[name] = list(exc.messages)
    return errors


def _duplicate_errors(*, email: str, username: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if selectors.email_taken(email=email):
        errors["email"] = ["A user with this email already exists."]
    if selectors.username_taken(username=username):
        errors["username"] = ["A user with this username already exists."]
    return errors


@transaction.atomic
def user_register(
    *,
    email: str,
    username: str,
    password: str,
    full_name: str = "",
    public_key: str = "",
    invitation_token: str | None = None,
) -> User:
    """Create the user, tell the higher apps (contacts turns the invitation whose token the user
    brought into a contact) and queue the verification email, inside the same transaction: all
    of it happens or none of it. The address itself is not proven here, so invitations to it
    wait for its verification (user_verified)."""
    errors = _reserved_errors(email=email, username=username)
    if errors:
        raise ApplicationError("Invalid input.", code="invalid", errors=errors)
    errors = _duplicate_errors(email=email, username=username)
    if errors:
        raise ApplicationError("Invalid input.", code="unique", errors=errors)
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin hits the unique indexes
            user = User.objects.create_user(
                email=email,
                username=username,
                password=password,
                full_name=full_name,
                public_key=public_key,
            )
    except IntegrityError:
        errors = _duplicate_errors(email=email, username=username) or {
            "email": ["A user with this email or username already exists."]
        }
        raise ApplicationError("Invalid input.", code="unique", errors=errors) from None

    events.user_registered.send(
        sender=User, user_id=user.pk, email=user.email, invitation_token=invitation_token or None
    )
    # An invitation token sent to this very address proves it (contacts then marked the user
    # verified, through user_mark_verified): no verification email is needed.
    user.refresh_from_db()
    if not user.is_verified:
        _send_verification_email(user)
    return user


def _email_fingerprint(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def email_verification_token(*, user: User) -> str:
    """Signed (SECRET_KEY), timestamped, bound to the address; dead once the user is verified."""
    return signing.dumps({"u": str(user.pk), "e": _email_fingerprint(user.email)}, salt=_VERIFY_SALT)


def _send_verification_email(user: User) -> None:
    token = email_verification_token(user=user)
    verify_url = f"{settings.FRONTEND_URL.rstrip('/')}/verify-email?{urlencode({'token': token})}"
    # notifications owns delivery: an outbox row in this transaction, a Celery task on commit.
    email_enqueue(
        to=user.email,
        template="verify_email",
        context={"username": user.username, "verify_url": verify_url, "token": token},
    )


@transaction.atomic
def user_verify_email(*, token: str) -> User:
    """Single use: the token names an unverified user; verifying makes it worthless."""
    try:
        data = signing.loads(token, salt=_VERIFY_SALT, max_age=settings.ACCOUNTS_VERIFY_EMAIL_TTL_SECONDS)
        user = User.objects.select_for_update(no_key=True).get(pk=data["u"], is_active=True)
    except (signing.BadSignature, User.DoesNotExist, KeyError, TypeError, ValueError):
        raise VerificationTokenInvalid() from None
    if user.is_verified or not hmac.compare_digest(data.get("e", ""), _email_fingerprint(user.email)):
        raise VerificationTokenInvalid()
    user.is_verified = True
    user.save(update_fields=["is_verified", "updated_at"])
    _address_verified(user)
    return user


def _address_verified(user: User) -> None:
    """The address is now proven the user's: the higher apps act in this same transaction
    (contacts turns the pending invitations to it into contacts)."""
    events.user_verified.send(sender=User, user_id=user.pk, email=user.email)


UNVERIFIED_PURGE_REASON = "unverified"


def unverified_accounts_purge(*, limit: int = 1000) -> int:
    """Delete the accounts still unverified UNVERIFIED_ACCOUNT_TTL_HOURS after registration (the
    periodic task), through user_delete: the row is scrubbed, the address freed for its owner,
    and every app drops what the account held (user_deleted). Staff accounts are left alone;
    banned ones are not (a ban is on an account, and this one never proved its address).
    At most `limit` per run, each in its own transaction; the next run takes the rest."""
    hours = settings.UNVERIFIED_ACCOUNT_TTL_HOURS
    if hours <= 0:
        return 0
    stale = User.objects.filter(
        is_verified=False,
        deleted_at__isnull=True,
        is_staff=False,
        date_joined__lt=timezone.now() - timedelta(hours=hours),
    )
    purged = 0
    for user_id in list(stale.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            # Locked and read again: the verification link may have been opened since.
            if stale.select_for_update(no_key=True).filter(pk=user_id).values_list("pk", flat=True).first():
                user_delete(user_id=user_id, reason=UNVERIFIED_PURGE_REASON)
                purged += 1
    if purged:
        logger.info("Purged %d account(s) left unverified for %d hours", purged, hours)
    return purged


# --- Sessions: login, refresh, logout ------------------------------------------------------------


def _check_password_or_fail(*, user: User | None, login: str, password: str) -> User:
    """The same work whether or not the user exists: an unknown login hashes a dummy password."""
    ratelimit.check_login_allowed(login=login)
    if user is None:
        make_password(password)  # as slow as a real check, so timing tells nothing
        ok = False
    else:
        ok = user.check_password(password) and user.is_active
    if not ok:
        ratelimit.record_login_failure(login=login)
        raise InvalidCredentials()
    ratelimit.clear_login_failures(login=login)
    return user  # type: ignore[return-value]


@dataclass(frozen=True)
class Session:
    user: User
    tokens: TokenPair


def user_login(*, login: str, password: str) -> Session:
    """Email or username, any case. Unknown, wrong password, banned and deleted: one 401."""
    user = selectors.user_for_login(login=login)
    user = _check_password_or_fail(user=user, login=login, password=password)
    return Session(user=user, tokens=issue_token_pair(user_id=user.pk))


def session_open(*, user: User) -> TokenPair:
    """Tokens for a user who just proved who they are another way (registration)."""
    return issue_token_pair(user_id=user.pk)


def _parse_refresh(raw: str) -> RefreshToken:
    try:
        return parse_token(RefreshToken, raw)  # signature, expiry, type, claims, not blacklisted
    except TokenError:
        raise TokenInvalid() from None


def _blacklist_once(token: RefreshToken) -> None:
    """Blacklist `token`, or TokenInvalid if someone already did: of two concurrent refreshes with
    one token, the unique constraint on BlacklistedToken.token lets exactly one through."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token[api_settings.JTI_CLAIM],
        defaults={
            "user_id": token.get(api_settings.USER_ID_CLAIM),
            "token": str(token),
            "created_at": timezone.now(),
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        raise TokenInvalid() from None


class _SpendableRefreshToken(RefreshToken):
    """Signature, expiry and type checked, the blacklist not: session_refresh must tell a spent
    token presented again (reuse) from a forged or expired one."""

    def check_blacklist(self) -> None:
        pass


class _RefreshReused(Exception):
    pass


def session_refresh(*, refresh: str) -> TokenPair:
    """Rotation: the refresh token is spent (blacklisted) and a new pair of the same session
    returned. A banned or deleted user gets nothing.

    Reuse detection (refresh token rotation in OAuth 2.1 and RFC 9700): a genuine refresh token
    presented after it was spent means two parties hold the session, the client and whoever copied
    the token, and the server cannot tell which is which. So the whole session ends: every refresh
    token it was rotated into and every access token it minted are refused (401), its sockets
    close, and the client logs in again."""
    try:
        token = parse_token(_SpendableRefreshToken, refresh)
    except TokenError:
        raise TokenInvalid() from None
    if is_access_revoked({SESSION_CLAIM: token.get(SESSION_CLAIM)}):
        # The session has ended (a reuse or a logout): a plain 401. A copied token can be replayed
        # at will, and each replay must not scan the user's tokens and close their sockets again.
        raise TokenInvalid()
    try:
        return _session_rotate(token)
    except _RefreshReused:
        user_id, session_id = token.get(api_settings.USER_ID_CLAIM), token.get(SESSION_CLAIM)
        logger.warning("Spent refresh token presented again: session %s of user %s ends", session_id, user_id)
        session_revoke(user_id=user_id, session_id=session_id)
        raise TokenInvalid() from None


@transaction.atomic
def _session_rotate(token: RefreshToken) -> TokenPair:
    user = selectors.active_user_for_token_claim(user_id=token.get(api_settings.USER_ID_CLAIM))
    if user is None:
        raise TokenInvalid()
    try:
        _blacklist_once(token)  # of two concurrent refreshes with one token, the second is reuse too
    except TokenInvalid:
        raise _RefreshReused() from None
    return issue_token_pair(user_id=user.pk, session_id=token.get(SESSION_CLAIM))


def _session_of(raw_token: str) -> str | None:
    """The `sid` of a token this server issued (read from our own outstanding-token table, so its
    signature was checked when it was issued)."""
    try:
        return RefreshToken(raw_token, verify=False).get(SESSION_CLAIM)
    except TokenError:
        return None


@transaction.atomic
def session_revoke(*, user_id: Any, session_id: str | None) -> None:
    """End one session: blacklist its live refresh tokens, denylist its access tokens (and with
    them its WebSocket tickets), close its sockets. A token minted outside a session (no `sid`)
    has no family to end."""
    user = selectors.active_user_for_token_claim(user_id=user_id)
    if not session_id or user is None:
        return
    live = OutstandingToken.objects.filter(
        user_id=user.pk, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    ).values_list("pk", "token")
    family = [pk for pk, raw in live if _session_of(raw) == session_id]
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in family], ignore_conflicts=True
    )
    revoke_access(jti=None, session_id=session_id)
    transaction.on_commit(
        lambda: events.access_revoked.send(sender=User, user_id=user.pk, jti=None, session_id=session_id)
    )


@transaction.atomic
def session_logout(*, user: User, refresh: str, access_payload: dict[str, Any]) -> None:
    """Kill the refresh token, the access token presented, and every access token of the session."""
    token = _parse_refresh(refresh)
    if str(token.get(api_settings.USER_ID_CLAIM)) != str(user.pk):
        raise TokenInvalid("This refresh token is not yours.")
    _blacklist_once(token)
    jti = access_payload.get(api_settings.JTI_CLAIM)
    revoke_access(jti=jti, session_id=token.get(SESSION_CLAIM), exp=access_payload.get("exp"))
    if access_payload.get(SESSION_CLAIM) and access_payload.get(SESSION_CLAIM) != token.get(SESSION_CLAIM):
        revoke_access(jti=None, session_id=access_payload[SESSION_CLAIM])
    user_id = user.pk
    session_id = token.get(SESSION_CLAIM)
    transaction.on_commit(
        lambda: events.access_revoked.send(sender=User, user_id=user_id, jti=jti, session_id=session_id)
    )


def _blacklist_all_refresh_tokens(user_id: UUID) -> int:
    pending = OutstandingToken.objects.filter(
        user_id=user_id, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    ).values_list("pk", flat=True)
    rows = [BlacklistedToken(token_id=pk) for pk in pending]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _revoke_everything_on_commit(user_id: UUID) -> None:
    transaction.on_commit(lambda: events.access_revoked.send(sender=User, user_id=user_id, jti=None))


# --- Profile -------------------------------------------------------------------------------------

PROFILE_FIELDS = ("full_name", "avatar_url", "bio", "public_key")


def _locked_active_user(user_id: UUID) -> User:
    """The user, row-locked; 404 if a ban or a deletion got there between authentication and now."""
    user = User.objects.select_for_update(no_key=True).filter(pk=user_id, is_active=True).first()
    if user is None:
        raise UserNotFound()
    return user


@transaction.atomic
def user_update_profile(*, user_id: UUID, data: dict[str, Any]) -> User:
    user = _locked_active_user(user_id)
    changed = [name for name in PROFILE_FIELDS if name in data and getattr(user, name) != data[name]]
    for name in changed:
        setattr(user, name, data[name])
    if changed:
        user.save(update_fields=[*changed, "updated_at"])
    return user


def user_record_last_seen(*, user_id: UUID, at: datetime, unless_newer_than: timedelta | None = None) -> bool:
    """Sets `users.last_seen` to `at` with one UPDATE and no read; True if a row changed.

    With `unless_newer_than`, the row is left alone while its value is within that of `at` (the
    realtime layer's throttle for connects and heartbeats: presence stays off the hot path);
    without it the write is unconditional (going offline: the value contacts are shown). A
    deleted account keeps its scrubbed NULL. `updated_at` is not touched: this is not a profile
    edit.
    """
    rows = User.objects.filter(pk=user_id, deleted_at__isnull=True)
    if unless_newer_than is not None:
        rows = rows.filter(Q(last_seen__isnull=True) | Q(last_seen__lt=at - unless_newer_than))
    return rows.update(last_seen=at) > 0


# --- Moderation (admin actions) ------------------------------------------------------------------


@transaction.atomic
def user_ban(*, user_id: UUID, reason: str) -> User:
    """Deactivate with a reason. Takes effect on the user's next request: the access check loads
    the user and refuses an inactive one; their refresh tokens are blacklisted; sockets close."""
    user = User.objects.select_for_update(no_key=True).get(pk=user_id)
    if user.deleted_at is not None:
        raise Conflict("A deleted account cannot be banned.", code="user_deleted")
    user.is_active = False
    user.banned_at = timezone.now()
    user.ban_reason = reason.strip()
    user.save(update_fields=["is_active", "banned_at", "ban_reason", "updated_at"])
    _blacklist_all_refresh_tokens(user.pk)
    _revoke_everything_on_commit(user.pk)
    return user


@transaction.atomic
def user_unban(*, user_id: UUID) -> User:
    user = User.objects.select_for_update(no_key=True).get(pk=user_id)
    if user.deleted_at is not None:
        raise Conflict("A deleted account cannot be restored.", code="user_deleted")
    user.is_active = True
    user.banned_at = None
    user.ban_reason = ""
    user.save(update_fields=["is_active", "banned_at", "ban_reason", "updated_at"])
    return user


@transaction.atomic
def user_mark_verified(*, user_id: UUID) -> User:
    """An admin vouches for the address, or contacts found it proven by an invitation token."""
    user = User.objects.select_for_update(no_key=True).get(pk=user_id)
    if not user.is_verified:
        user.is_verified = True
        user.save(update_fields=["is_verified", "updated_at"])
        _address_verified(user)
    return user


# --- Deletion ------------------------------------------------------------------------------------

DELETED_FULL_NAME = "Deleted user"


def deleted_email_hash(email: str) -> str:
    """Keyed (SECRET_KEY) so a leaked deleted_users table does not confirm guessed addresses."""
    return hmac.new(settings.SECRET_KEY.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def account_delete(*, user: User, password: str) -> None:
    """DELETE /auth/me: the password again (a stolen access token alone cannot delete an account);
    failures count toward the same per-account lock-out as logins."""
    try:
        _check_password_or_fail(user=user, login=user.username, password=password)
    except InvalidCredentials:
        # 403, not 401: the session is fine, and a client must not read this as "logged out".
        raise Forbidden("The password is wrong.", code="wrong_password") from None
    user_delete(user_id=user.pk, reason="user_request")


@transaction.atomic
def user_delete(*, user_id: UUID, reason: str) -> None:
    """Deactivate and scrub the row, record it in deleted_users, end every session, drop the keys,
    and let the higher apps remove what they own (contacts, relay queue, media) in this same
    transaction. The row itself stays, scrubbed, so messages keep pointing at a placeholder."""
    user = User.objects.select_for_update(no_key=True).filter(pk=user_id).first()
    if user is None or user.deleted_at is not None:
        raise NotFound("User not found.", code="user_not_found")
    DeletedUser.objects.create(
        former_user_id=user.pk, email_hash=deleted_email_hash(user.email), reason=reason
    )
    # Random, and of shapes no input path accepts (accounts.models, "Account deletion renames"):
    # nothing anyone registered, or guessed from the public user id, can collide with them.
    placeholder = f"deleted-{secrets.token_hex(12)}"
    user.email = f"{placeholder}@deleted.invalid"
    user.username = placeholder
    user.full_name = DELETED_FULL_NAME
    user.avatar_url = ""
    user.bio = ""
    user.public_key = ""
    user.last_seen = None
    user.is_active = False
    user.is_verified = False
    user.is_staff = False
    user.is_superuser = False
    user.role = User.Role.USER
    user.deleted_at = timezone.now()
    user.set_unusable_password()
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
    IdentityKeys.objects.filter(user_id=user.pk).delete()
    OneTimePrekey.objects.filter(user_id=user.pk).delete()
    KeyBackup.objects.filter(user_id=user.pk).delete()
    _blacklist_all_refresh_tokens(user.pk)
    events.user_deleted.send(sender=User, user_id=user.pk)
    _revoke_everything_on_commit(user.pk)


# --- Prekey directory ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PrekeyBundle:
    user_id: UUID
    identity_key: bytes
    signed_prekey: dict[str, Any]
    one_time_prekey: dict[str, Any] | None


@transaction.atomic
def keys_upload(
    *,
    user_id: UUID,
    identity_key: bytes | None = None,
    signed_prekey: dict[str, Any] | None = None,
    one_time_prekeys: list[dict[str, Any]] | tuple = (),
) -> int:
    """Store the caller's bundle: replace the identity key / signed prekey when given, append
    one-time prekeys up to the cap. Returns how many one-time prekeys are now stored.

    A one-time prekey whose key_id is already stored is skipped (re-uploading is harmless). A new
    identity key makes the old one-time prekeys useless, so they are dropped with it.
    """
    # Lock the user row: two uploads of one user run one after the other, so the cap holds.
    _locked_active_user(user_id)
    current = IdentityKeys.objects.filter(user_id=user_id).first()
    if current is None:
        missing = {
            name: ["Required on the first upload."]
            for name, value in (("identity_key", identity_key), ("signed_prekey", signed_prekey))
            if value is None
        }
        if missing:
            raise ApplicationError("Invalid input.", code="keys_incomplete", errors=missing)
    identity_changed = (
        current is not None and identity_key is not None and bytes(current.identity_key) != identity_key
    )
    if identity_changed and signed_prekey is None:
        raise ApplicationError(
            "Invalid input.",
            code="keys_incomplete",
            errors={"signed_prekey": ["A new identity key needs a signed prekey signed by it."]},
        )

    keys = current or IdentityKeys(user_id=user_id)
    if identity_key is not None:
        keys.identity_key = identity_key
    if signed_prekey is not None:
        keys.signed_prekey_id = signed_prekey["key_id"]
        keys.signed_prekey = signed_prekey["public_key"]
        keys.signed_prekey_signature = signed_prekey["signature"]
    if current is None or identity_key is not None or signed_prekey is not None:
        keys.save()
    if identity_changed:
        OneTimePrekey.objects.filter(user_id=user_id).delete()

    stored = OneTimePrekey.objects.filter(user_id=user_id).count()
    if one_time_prekeys:
        wanted = {item["key_id"]: item["public_key"] for item in one_time_prekeys}
        already = set(
            OneTimePrekey.objects.filter(user_id=user_id, key_id__in=wanted).values_list("key_id", flat=True)
        )
        new = [
            OneTimePrekey(user_id=user_id, key_id=key_id, public_key=public_key)
            for key_id, public_key in wanted.items()
            if key_id not in already
        ]
        cap = settings.ACCOUNTS_MAX_ONE_TIME_PREKEYS
        if stored + len(new) > cap:
            raise ApplicationError(
                f"At most {cap} one-time prekeys may be stored; {stored} are.",
                code="prekey_limit",
                errors={
                    "one_time_prekeys": [
                        f"{len(new)} new keys would exceed the cap of {cap} ({stored} stored)."
                    ]
                },
            )
        OneTimePrekey.objects.bulk_create(new)
        stored += len(new)
    if stored >= settings.ACCOUNTS_PREKEYS_LOW_THRESHOLD:
        # Back above the threshold: the next claim that crosses it tells the owner again.
        transaction.on_commit(lambda: cache.delete(_prekeys_low_key(user_id)), robust=True)
    return stored


# The event a claim sends the owner's devices when it leaves fewer one-time prekeys than
# ACCOUNTS_PREKEYS_LOW_THRESHOLD: `{"one_time_prekeys": n}`, GET /keys/count's body.
KEYS_LOW = "keys.low"


def _prekeys_low_key(user_id: UUID | str) -> str:
    return f"accounts:prekeys-low:{user_id}"


def _tell_owner_if_prekeys_low(user_id: UUID) -> None:
    """After a claim commits: below the threshold, `keys.low` goes to the owner's devices, once
    per crossing (the cache flag is set by whichever claim sees the crossing first and cleared
    by the upload that refills the keys).

    Counted after commit, not inside the claim: concurrent claims (SKIP LOCKED) each see the
    others' uncommitted deletes as still there, so every one of them could count too many and
    miss the crossing; the last claim to count after its commit sees them all."""
    remaining = selectors.one_time_prekey_count(user_id=user_id)
    if remaining >= settings.ACCOUNTS_PREKEYS_LOW_THRESHOLD:
        return
    # No timeout: the flag lasts until an upload refills. Lost (a cache flush), the owner is told
    # once more at the next claim, which is harmless.
    if cache.add(_prekeys_low_key(user_id), 1, timeout=None):
        publish([user_id], KEYS_LOW, {"one_time_prekeys": remaining})


@transaction.atomic
def prekey_bundle_claim(*, user_id: UUID, with_one_time_prekey: bool = True) -> PrekeyBundle:
    """The user's bundle with one one-time prekey, which is deleted in this transaction.

    `with_one_time_prekey=False` (the target's claim budget is spent: accounts.api): the bundle
    without one, as when none is left, so a session can still start and the prekeys are kept.
    A claim that leaves fewer than ACCOUNTS_PREKEYS_LOW_THRESHOLD tells the owner (`keys.low`).

    PostgreSQL: `SELECT ... ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, then a DELETE of that
    row. Concurrent claimers skip rows another claimer holds instead of queueing on them, and a
    row is only ever returned by the transaction that deleted it: no prekey is handed out twice.
    (When all are taken, `one_time_prekey` is null and the X3DH handshake goes on without one.)
    SQLite: the transaction takes the database write lock at BEGIN (IMMEDIATE), so claims are
    serial there.
    """
    keys = IdentityKeys.objects.filter(user_id=user_id, user__is_active=True).first()
    if keys is None:
        raise KeysNotFound()
    claimed = (
        (
            OneTimePrekey.objects.filter(user_id=user_id)
            .order_by("id")
            .select_for_update(skip_locked=True, no_key=False)  # it is deleted next: a full lock
            .first()
        )
        if with_one_time_prekey
        else None
    )
    one_time = None
    if claimed is not None:
        OneTimePrekey.objects.filter(pk=claimed.pk).delete()
        one_time = {"key_id": claimed.key_id, "public_key": bytes(claimed.public_key)}
        owner = keys.user_id
        # robust: the claim has committed; a cache or count failure here must not make it a 500.
        transaction.on_commit(lambda: _tell_owner_if_prekeys_low(owner), robust=True)
    return PrekeyBundle(
        user_id=keys.user_id,
        identity_key=bytes(keys.identity_key),
        signed_prekey={
            "key_id": keys.signed_prekey_id,
            "public_key": bytes(keys.signed_prekey),
            "signature": bytes(keys.signed_prekey_signature),
        },
        one_time_prekey=one_time,
    )


# --- Key backup ------------------------------------------------------------------------------


@transaction.atomic
def key_backup_store(*, user_id: UUID, blob: bytes, kdf: str, version: int) -> KeyBackup:
    """Create or replace the user's key backup (one per user). The user row is locked, as for
    the prekeys: a backup stored while the account is being deleted cannot outlive it."""
    _locked_active_user(user_id)
    backup, _created = KeyBackup.objects.update_or_create(
        user_id=user_id, defaults={"blob": blob, "kdf": kdf, "version": version}
    )
    return backup


@transaction.atomic
def key_backup_delete(*, user_id: UUID) -> None:
    deleted, _by_model = KeyBackup.objects.filter(user_id=user_id).delete()
    if not deleted:
        raise KeyBackupNotFound()
