"""Thin views of accounts: parse with an input serializer, call one service or selector, render."""

from __future__ import annotations

import binascii
import hashlib
import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from typing import Any
from uuid import UUID

from django.core.validators import RegexValidator
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.ratelimit import LoginIPThrottle
from accounts.schema import DeleteWithBodySchema
from accounts.serializers import (
    MAY_SEE_ACTIVITY,
    KeyBackupSerializer,
    KeysUploadSerializer,
    LoginSerializer,
    MeSerializer,
    PasswordConfirmSerializer,
    PrekeyBundleSerializer,
    PrekeyCountSerializer,
    ProfileUpdateSerializer,
    PublicUserSerializer,
    RefreshInputSerializer,
    RegisterSerializer,
    SessionSerializer,
    TokenPairSerializer,
    UserSearchPageSerializer,
    VerifyEmailSerializer,
)
from core.exceptions import ApplicationError, Forbidden
from core.fields import StrictCharField
from core.pagination import CursorPagination
from core.responses import no_store
from core.throttling import IPRateThrottle, SettingsRateThrottle, UserRateThrottle

ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{detail, code, errors}`."),
    401: OpenApiResponse(description="Missing, malformed, expired or revoked token."),
}


class RegisterIPThrottle(IPRateThrottle):
    scope = "register_ip"


class RegisterAccountThrottle(SettingsRateThrottle):
    """Registration attempts per requested address: probing one address for an account is slow."""

    scope = "register_account"

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        email = request.data.get("email") if isinstance(request.data, dict) else None
        if not isinstance(email, str) or not email.strip():
            return None
        # Hashed: the address is the client's input, of any length and any characters (a key
        # of a megabyte, or one a cache backend refuses, would still be counted here).
        digest = hashlib.sha256(email.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}


class PrekeyClaimThrottle(SettingsRateThrottle):
    """Claims per caller and target user: every claim consumes one of the target's one-time
    prekeys, so an unthrottled caller could drain them (forward secrecy then rests on the signed
    prekey alone until the owner uploads more)."""

    scope = "keys_claim"

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        ident = f"{request.user.pk}:{view.kwargs.get('user_id')}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class UserSearchThrottle(SettingsRateThrottle):
    """Searches per user: the search tells who has an account, so it is not a free bulk oracle."""

    scope = "user_search"

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class UserSearchEmailThrottle(UserSearchThrottle):
    """Exact-address lookups (a `q` with an "@") per user, much tighter: each answers "has this
    address an account?" exactly, which a list of addresses would turn into a harvest."""

    scope = "user_search_email"

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        query = request.query_params.get("q")
        if not isinstance(query, str) or "@" not in query:
            return None
        return super().get_cache_key(request, view)


class PrekeyClaimTargetBudget(SettingsRateThrottle):
    """One-time prekeys handed out per target user, whoever claims (THROTTLE_KEYS_CLAIM_TARGET):
    several accounts, each within its own per-caller rate, could still drain a target. Past it a
    claim is not refused: the bundle comes without a one-time prekey (as when none is left), so
    anyone can still start a session with the target, and the target's prekeys are kept. A 429
    here would let a few accounts keep everyone from reaching the target."""

    scope = "keys_claim_target"

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        return self.cache_format % {"scope": self.scope, "ident": str(view.kwargs.get("user_id"))}


class KeyBackupThrottle(UserRateThrottle):
    """Reads and writes of the caller's own key backup (THROTTLE_KEYS_BACKUP), every method
    counted together: a device restores once, a client rewrites it when its keys change."""

    scope = "keys_backup"


def _session_body(session_user: Any, access: str, refresh: str) -> dict[str, Any]:
    return {"user": MeSerializer(session_user).data, "access": access, "refresh": refresh}


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [RegisterIPThrottle, RegisterAccountThrottle]

    @extend_schema(
        operation_id="auth_register",
        request=RegisterSerializer,
        responses={201: SessionSerializer, 400: ERRORS[400], 429: OpenApiResponse(description="Throttled.")},
        description="Create an account (email and username unique in any case). A verification email "
        "goes out through the task queue. `invitation_token` makes the inviter a contact.",
    )
    def post(self, request: Request) -> Response:
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        tokens = services.session_open(user=user)
        return no_store(
            Response(_session_body(user, tokens.access, tokens.refresh), status=status.HTTP_201_CREATED)
        )


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginIPThrottle]

    @extend_schema(
        operation_id="auth_login",
        request=LoginSerializer,
        responses={
            200: SessionSerializer,
            400: ERRORS[400],
            401: OpenApiResponse(description="Wrong login or password (one body for both)."),
            429: OpenApiResponse(description="Too many attempts (per IP or per account); see Retry-After."),
        },
    )
    def post(self, request: Request) -> Response:
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.user_login(**data.validated_data)
        return no_store(Response(_session_body(session.user, session.tokens.access, session.tokens.refresh)))


class RefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_refresh",
        request=RefreshInputSerializer,
        responses={200: TokenPairSerializer, 400: ERRORS[400], 401: ERRORS[401]},
        description="Rotates: the refresh token sent is spent. Presenting a spent token again is 401 "
        "and ends its session (reuse means it was copied): the tokens it was rotated into and every "
        "access token of the session are refused from then on, and the session's sockets close.",
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = services.session_refresh(refresh=data.validated_data["refresh"])
        return no_store(Response({"access": tokens.access, "refresh": tokens.refresh}))


class LogoutView(APIView):
    @extend_schema(
        operation_id="auth_logout",
        request=RefreshInputSerializer,
        responses={204: None, 400: ERRORS[400], 401: ERRORS[401]},
        description="Ends the session: the refresh token, the access token sent and every access "
        "token of the same session are refused from now on.",
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.session_logout(
            user=request.user, refresh=data.validated_data["refresh"], access_payload=request.auth.payload
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class VerifyEmailView(APIView):
    """Verifies the email address with the token of the verification email. The email links to
    `FRONTEND_URL/verify-email?token=...`, a page (this server's until a web client serves it)
    whose button POSTs the token here; opening the link verifies nothing. Good once, for
    ACCOUNTS_VERIFY_EMAIL_TTL_SECONDS (3 days)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_verify_email",
        request=VerifyEmailSerializer,
        responses={200: MeSerializer, 400: OpenApiResponse(description="Invalid, expired or used token.")},
    )
    def post(self, request: Request) -> Response:
        data = VerifyEmailSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_verify_email(token=data.validated_data["token"])
        return Response(MeSerializer(user).data)


class MeView(APIView):
    schema = DeleteWithBodySchema()  # DELETE /auth/me takes the password in its body (docs/API.md)

    @extend_schema(operation_id="auth_me", responses={200: MeSerializer, 401: ERRORS[401]})
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)

    @extend_schema(
        operation_id="auth_me_delete",
        request=PasswordConfirmSerializer,
        responses={
            204: None,
            400: ERRORS[400],
            401: ERRORS[401],
            403: OpenApiResponse(description="Wrong password."),
            429: OpenApiResponse(description="Too many wrong passwords for this account; see Retry-After."),
        },
        description="Deletes the account: it can no longer log in, its tokens die, its contacts, relay "
        "queue and media are removed; messages it sent remain, pointing at a deleted-user placeholder.",
    )
    def delete(self, request: Request) -> Response:
        data = PasswordConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.account_delete(user=request.user, password=data.validated_data["password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserDetailView(APIView):
    @extend_schema(
        operation_id="users_retrieve", responses={200: PublicUserSerializer, 401: ERRORS[401], 404: None}
    )
    def get(self, request: Request, user_id: UUID) -> Response:
        user = selectors.get_active_user(user_id=user_id, viewer_id=request.user.pk)
        context = {MAY_SEE_ACTIVITY: selectors.activity_visible_ids([user])}
        return Response(PublicUserSerializer(user, context=context).data)

    def _update(self, request: Request, user_id: UUID) -> Response:
        target = selectors.get_active_user(user_id=user_id)  # 404 before 403: no existence oracle
        if target.pk != request.user.pk:
            raise Forbidden("You can only change your own profile.")
        data = ProfileUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user_id=target.pk, data=data.validated_data)
        return Response(MeSerializer(user).data)

    @extend_schema(
        operation_id="users_update",
        request=ProfileUpdateSerializer,
        responses={200: MeSerializer, 400: ERRORS[400], 401: ERRORS[401], 403: None, 404: None},
        description="The user themself only. Fields given are replaced; fields omitted are kept.",
    )
    def put(self, request: Request, user_id: UUID) -> Response:
        return self._update(request, user_id)

    @extend_schema(
        operation_id="users_partial_update",
        request=ProfileUpdateSerializer,
        responses={200: MeSerializer, 400: ERRORS[400], 401: ERRORS[401], 403: None, 404: None},
    )
    def patch(self, request: Request, user_id: UUID) -> Response:
        return self._update(request, user_id)


# `q`: at least two characters besides spaces around it, no NUL. One pattern for the OpenAPI
# schema and the server (DRF's trimming strips every Unicode space, which no JSON schema
# pattern reproduces exactly: "Ç\x0c" was schema-valid and refused as 1 character).
SEARCH_Q_PATTERN = "^[^\\x00]*[^ \\x00][^\\x00]*[^ \\x00][^\\x00]*$"


class UserSearchQuerySerializer(serializers.Serializer):
    q = StrictCharField(
        min_length=selectors.SEARCH_MIN_LENGTH,
        max_length=150,
        trim_whitespace=False,
        validators=[
            RegexValidator(SEARCH_Q_PATTERN, "At least 2 characters besides spaces.", code="min_length")
        ],
        help_text="At least 2 characters (besides spaces around them).",
    )

    def validate_q(self, value: str) -> str:
        return value.strip(" ")

    # Strict: an empty `?cursor=` is a 400 (not blank), as the schema's minLength says, not "no cursor".
    cursor = StrictCharField(required=False, max_length=1024, help_text="From a `next`/`previous` link.")


class UserSearchPagination(CursorPagination):
    """Only its page size rules (`?limit=`, default 20, at most 100) are used: the search pages
    through its three ranked branches itself (accounts.selectors.user_search_page)."""

    page_size = 20
    max_page_size = 100


def _encode_cursor(position: selectors.UserSearchPosition, *, backward: bool) -> str:
    raw = {"d": "p" if backward else "n", "b": position.branch, "k": position.key, "i": str(position.user_id)}
    return urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode()


def _decode_cursor(value: str) -> tuple[selectors.UserSearchPosition, bool]:
    """(position, backward) from a `?cursor=` this API issued; anything else is a 400."""
    try:
        raw = json.loads(urlsafe_b64decode(value.encode()))
        position = selectors.UserSearchPosition(branch=raw["b"], key=raw["k"], user_id=UUID(raw["i"]))
        backward = {"n": False, "p": True}[raw["d"]]
        if position.branch not in selectors.SEARCH_BRANCHES or not isinstance(position.key, str):
            raise ValueError(position.branch)
        # No database query can carry a lone surrogate or a NUL (a 500 there): refused here.
        position.key.encode("utf-8")  # UnicodeEncodeError, a ValueError, on a lone surrogate
        if "\x00" in position.key:
            raise ValueError(position.key)
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        RecursionError,
        binascii.Error,
        UnicodeDecodeError,
    ):
        raise ApplicationError(
            "Invalid input.", code="invalid_cursor", errors={"cursor": ["Not a cursor this API issued."]}
        ) from None
    return position, backward


class UserSearchView(APIView):
    throttle_classes = [UserSearchThrottle, UserSearchEmailThrottle]

    @extend_schema(
        operation_id="users_search",
        parameters=[
            UserSearchQuerySerializer,
            OpenApiParameter("limit", int, required=False, description="Page size (default 20, max 100)."),
        ],
        responses={
            200: UserSearchPageSerializer,
            400: ERRORS[400],
            401: ERRORS[401],
            429: OpenApiResponse(
                description="Too many searches (per user; tighter for emails); see Retry-After."
            ),
        },
        description="Active users, ranked: the one whose email is exactly `q`, then those whose "
        "username starts with `q` (by username), then those whose full name starts with `q` (by full "
        "name); any case. Paginated: `{results, next, previous}`.",
    )
    def get(self, request: Request) -> Response:
        query = UserSearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after = before = None
        if query.validated_data.get("cursor"):
            position, backward = _decode_cursor(query.validated_data["cursor"])
            after, before = (None, position) if backward else (position, None)
        page = selectors.user_search_page(
            query=query.validated_data["q"],
            limit=UserSearchPagination().get_page_size(request),
            after=after,
            before=before,
            viewer_id=request.user.pk,
        )
        url = request.build_absolute_uri()
        next_link = previous_link = None
        if page.has_next and page.last is not None:
            next_link = replace_query_param(url, "cursor", _encode_cursor(page.last, backward=False))
        if page.has_previous and page.first is not None:
            previous_link = replace_query_param(url, "cursor", _encode_cursor(page.first, backward=True))
        return Response(
            {
                "results": PublicUserSerializer(
                    page.users,
                    many=True,
                    context={MAY_SEE_ACTIVITY: selectors.activity_visible_ids(page.users)},
                ).data,
                "next": next_link,
                "previous": previous_link,
            }
        )


class KeysUploadView(APIView):
    @extend_schema(
        operation_id="keys_upload",
        request=KeysUploadSerializer,
        responses={
            200: PrekeyCountSerializer,
            400: ERRORS[400],
            401: ERRORS[401],
            413: OpenApiResponse(description="Key too large."),
        },
        description="Upload the caller's prekey bundle. `identity_key` and `signed_prekey` replace what is "
        "stored (both required on the first upload); `one_time_prekeys` are appended, up to a cap. "
        "Keys are standard base64. Answers how many one-time prekeys are now stored.",
    )
    def put(self, request: Request) -> Response:
        data = KeysUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stored = services.keys_upload(user_id=request.user.pk, **data.validated_data)
        return Response({"one_time_prekeys": stored})


class KeysCountView(APIView):
    @extend_schema(operation_id="keys_count", responses={200: PrekeyCountSerializer, 401: ERRORS[401]})
    def get(self, request: Request) -> Response:
        return Response({"one_time_prekeys": selectors.one_time_prekey_count(user_id=request.user.pk)})


class KeyBundleView(APIView):
    throttle_classes = [PrekeyClaimThrottle]

    @extend_schema(
        operation_id="keys_claim",
        responses={
            200: PrekeyBundleSerializer,
            401: ERRORS[401],
            404: OpenApiResponse(description="Unknown user or no bundle."),
            429: OpenApiResponse(description="Too many claims of this user's keys; see Retry-After."),
        },
        description="The user's prekey bundle. Claims one one-time prekey (never handed out twice, even "
        "under concurrent claims); `one_time_prekey` is null when none is left, and also when the "
        "target's one-time prekeys were handed out THROTTLE_KEYS_CLAIM_TARGET times in the window "
        "(the identity key and signed prekey still come: the session starts without one). A claim "
        "that leaves the owner fewer than ACCOUNTS_PREKEYS_LOW_THRESHOLD sends the owner's devices "
        "`keys.low` `{one_time_prekeys}` (once per crossing).",
    )
    def get(self, request: Request, user_id: UUID) -> Response:
        within_budget = PrekeyClaimTargetBudget().allow_request(request, self)
        bundle = services.prekey_bundle_claim(user_id=user_id, with_one_time_prekey=within_budget)
        return Response(PrekeyBundleSerializer(bundle).data)


class KeyBackupView(APIView):
    """The caller's own key backup; there is no way to name another user's (no id in the path)."""

    throttle_classes = [KeyBackupThrottle]
    NOT_FOUND = OpenApiResponse(description="No key backup stored: `key_backup_not_found`.")
    THROTTLED = OpenApiResponse(description="Too many key backup requests; see Retry-After.")

    @extend_schema(
        operation_id="keys_backup_read",
        responses={200: KeyBackupSerializer, 401: ERRORS[401], 404: NOT_FOUND, 429: THROTTLED},
        description="The caller's key backup, as stored: `blob` (standard base64, the keys the client "
        "encrypted under its passphrase-derived key), `kdf` (the client's text, as sent), `version`, "
        "`updated_at`. Only the owner can read it; `Cache-Control: no-store`.",
    )
    def get(self, request: Request) -> Response:
        backup = selectors.key_backup_of(user_id=request.user.pk)
        return no_store(Response(KeyBackupSerializer(backup).data))

    @extend_schema(
        operation_id="keys_backup_store",
        request=KeyBackupSerializer,
        responses={
            200: KeyBackupSerializer,
            400: ERRORS[400],
            401: ERRORS[401],
            413: OpenApiResponse(description="`blob` larger than ACCOUNTS_KEY_BACKUP_MAX_BYTES decoded."),
            429: THROTTLED,
        },
        description="Create or replace the caller's key backup (one per user). `blob`: standard base64, "
        "1 to ACCOUNTS_KEY_BACKUP_MAX_BYTES (64 KiB) decoded; `kdf`: text of up to 1024 characters, "
        "optional (how the client derives its key from the passphrase, e.g. a PHC string); "
        "`version`: a positive integer (the client's format). The server never reads any of it. "
        "Answers what is now stored.",
    )
    def put(self, request: Request) -> Response:
        data = KeyBackupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        backup = services.key_backup_store(user_id=request.user.pk, **data.validated_data)
        return no_store(Response(KeyBackupSerializer(backup).data))

    @extend_schema(
        operation_id="keys_backup_delete",
        request=None,
        responses={204: None, 401: ERRORS[401], 404: NOT_FOUND, 429: THROTTLED},
        description="Delete the caller's key backup (account deletion deletes it too).",
    )
    def delete(self, request: Request) -> Response:
        services.key_backup_delete(user_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
