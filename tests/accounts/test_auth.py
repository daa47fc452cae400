"""Auth table of docs/API.md: register, login, me, refresh, logout, verify-email (REST, end to end)."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts import events
from accounts.models import User
from notifications.models import OutboundEmail
from tests.accounts.helpers import (
    LOGIN,
    LOGOUT,
    ME,
    REFRESH,
    REGISTER,
    STRONG_PASSWORD,
    VERIFY,
    bearer,
    login,
    session_for,
    verification_token_from_outbox,
)
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

ME_FIELDS = {
    "id",
    "username",
    "full_name",
    "avatar_url",
    "bio",
    "last_seen",
    "public_key",
    "is_verified",
    "email",
    "role",
    "date_joined",
}


def register(api_client, **overrides):
    body = {"email": "ann@example.com", "username": "ann", "password": STRONG_PASSWORD, **overrides}
    return api_client.post(REGISTER, body, format="json")


# --- register -------------------------------------------------------------------------------------


def test_register_returns_me_and_working_tokens(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = register(api_client, full_name="Ann Lee", public_key="pk-ann")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"user", "access", "refresh"}
    assert set(body["user"]) == ME_FIELDS
    assert body["user"]["username"] == "ann"
    assert body["user"]["email"] == "ann@example.com"
    assert body["user"]["full_name"] == "Ann Lee"
    assert body["user"]["is_verified"] is False
    assert body["user"]["role"] == "user"
    me = bearer(body["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]
    # the password is stored hashed, never as given
    stored = User.objects.get(pk=body["user"]["id"])
    assert stored.password != STRONG_PASSWORD and stored.check_password(STRONG_PASSWORD)


def test_register_sends_verification_email(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        register(api_client)
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    assert verification_token_from_outbox("ann@example.com")


def test_register_duplicate_email_in_other_case_is_400(api_client, make_user):
    make_user(email="Ann@Example.com", username="someone")
    response = register(api_client, email="aNN@example.COM", username="another")
    assert response.status_code == 400
    body = response.json()
    assert "email" in body["errors"] and "username" not in body["errors"]
    assert User.objects.count() == 1


def test_register_duplicate_username_in_other_case_is_400(api_client, make_user):
    make_user(username="Ann")
    response = register(api_client, username="aNN")
    assert response.status_code == 400
    assert "username" in response.json()["errors"]


@pytest.mark.parametrize("username", ["ab", "x" * 33, "ann lee", "ann-lee", "änn", ""])
def test_register_rejects_bad_usernames(api_client, username):
    response = register(api_client, username=username)
    assert response.status_code == 400
    assert "username" in response.json()["errors"]
    assert not User.objects.exists()


@pytest.mark.parametrize("password", ["short", "password123", "12345678901", "ann@example.com"])
def test_register_applies_django_password_validators(api_client, password):
    response = register(api_client, password=password)
    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_register_bad_email_and_missing_fields(api_client):
    response = api_client.post(REGISTER, {"email": "not-an-email"}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"email", "username", "password"} <= set(errors)


def test_register_sends_user_registered_with_invitation_token(api_client):
    received = []

    def receiver(sender, **kwargs):
        # inside the registration transaction: the user row is visible here
        received.append({**kwargs, "exists": User.objects.filter(pk=kwargs["user_id"]).exists()})

    events.user_registered.connect(receiver)
    try:
        response = register(api_client, invitation_token="tok-123")
    finally:
        events.user_registered.disconnect(receiver)
    assert response.status_code == 201
    assert received == [
        {
            "signal": events.user_registered,
            "user_id": User.objects.get().pk,
            "email": "ann@example.com",
            "invitation_token": "tok-123",
            "exists": True,
        }
    ]


def test_register_rolls_back_when_a_receiver_fails(api_client):
    """The signal runs inside the transaction: if contacts cannot record the invitation, no
    half-registered user is left behind."""

    def broken(sender, **kwargs):
        raise RuntimeError("contacts is down")

    events.user_registered.connect(broken)
    try:
        response = register(api_client)
    finally:
        events.user_registered.disconnect(broken)
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert not User.objects.exists()
    # the verification email was written in the same transaction, so it went with it
    assert not OutboundEmail.objects.exists()
    assert mail.outbox == []


def test_register_is_throttled_per_ip(api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "register_ip": "2/h"}
    assert register(api_client, email="a1@example.com", username="a1x").status_code == 201
    assert register(api_client, email="a2@example.com", username="a2x").status_code == 201
    response = register(api_client, email="a3@example.com", username="a3x")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"


def test_register_is_throttled_per_address(api_client, settings, make_user):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "register_account": "2/30m"}
    make_user(email="taken@example.com")
    for name in ("p1x", "p2x"):
        assert register(api_client, email="Taken@example.com", username=name).status_code == 400
    response = register(api_client, email="taken@example.com", username="p3x")
    assert response.status_code == 429
    assert "Retry-After" in response


# --- login ----------------------------------------------------------------------------------------


def test_login_with_username_or_email_in_any_case(api_client, make_user):
    user = make_user(username="Bob.Smith", email="Bob@Example.com")
    for handle in ("Bob.Smith", "bob.smith", "BOB@example.COM"):
        response = login(api_client, handle)
        assert response.status_code == 200, handle
        body = response.json()
        assert body["user"]["id"] == str(user.pk)
        assert set(body) == {"user", "access", "refresh"}


def test_wrong_password_and_unknown_user_are_identical(api_client, user):
    wrong = login(api_client, user.username, "not the password")
    unknown = login(api_client, "nobody_here", "not the password")
    unknown_email = login(api_client, "nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == unknown_email.status_code == 401
    assert wrong.content == unknown.content == unknown_email.content
    assert wrong.json() == {"detail": "The login or the password is wrong.", "code": "invalid_credentials"}
    assert wrong["WWW-Authenticate"] == unknown["WWW-Authenticate"]


def test_unknown_user_costs_a_password_hash(api_client, monkeypatch):
    """Same work for an unknown login: a dummy password is hashed (no timing oracle)."""
    from accounts import services

    calls = []
    real = services.make_password
    monkeypatch.setattr(services, "make_password", lambda pw: calls.append(pw) or real(pw))
    login(api_client, "nobody_here", "guess-1")
    assert calls == ["guess-1"]


PRODUCTION_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


@pytest.fixture
def argon2_calls(monkeypatch):
    """Every Argon2 computation, as (kind, time_cost, memory_cost, parallelism). The real functions
    still run: this only records the work each login path does."""
    import argon2
    from argon2 import _password_hasher

    calls: list[tuple] = []
    real_hash, real_verify = argon2.low_level.hash_secret, _password_hasher.verify_secret

    def spy_hash(secret, salt, time_cost, memory_cost, parallelism, hash_len, type, version=19):
        calls.append(("hash", time_cost, memory_cost, parallelism))
        return real_hash(secret, salt, time_cost, memory_cost, parallelism, hash_len, type, version)

    def spy_verify(hash, secret, type):
        params = argon2.extract_parameters(hash.decode() if isinstance(hash, bytes) else hash)
        calls.append(("verify", params.time_cost, params.memory_cost, params.parallelism))
        return real_verify(hash, secret, type)

    monkeypatch.setattr(argon2.low_level, "hash_secret", spy_hash)
    monkeypatch.setattr(_password_hasher, "verify_secret", spy_verify)
    return calls


def test_every_failed_login_costs_one_argon2_computation_of_the_same_size(
    api_client, make_user, settings, argon2_calls
):
    """With the production hashers: a wrong password, an unknown login, a banned account and a
    deleted one each run Argon2 exactly once with the same parameters, and answer the same bytes:
    neither the body nor the work tells whether an account exists."""
    from accounts.services import user_ban, user_delete

    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    known, banned, deleted = make_user(), make_user(), make_user()
    assert known.password.startswith("argon2$")
    user_ban(user_id=banned.pk, reason="spam")
    user_delete(user_id=deleted.pk, reason="test")
    responses, work = {}, {}
    for case, handle in (
        ("wrong password", known.username),
        ("unknown", "nobody_here"),
        ("unknown email", "nobody@example.com"),
        ("banned", banned.username),
        ("deleted", deleted.username),
    ):
        argon2_calls.clear()
        responses[case] = login(api_client, handle, "not the password")
        work[case] = list(argon2_calls)
    assert {r.status_code for r in responses.values()} == {401}
    assert len({r.content for r in responses.values()}) == 1
    sizes = {call[1:] for calls in work.values() for call in calls}
    assert all(len(calls) == 1 for calls in work.values()), work
    assert len(sizes) == 1, work  # one Argon2 cost for every path
    assert work["wrong password"][0][0] == "verify" and work["unknown"][0][0] == "hash"


def test_inactive_user_cannot_log_in(api_client, make_user):
    user = make_user(is_active=False)
    wrong = login(api_client, "nobody_here", "x")
    response = login(api_client, user.username)
    assert response.status_code == 401
    assert response.content == wrong.content


def test_login_failures_lock_the_account_after_five(api_client, user, settings):
    assert settings.THROTTLE_RATES["login_account"] == "5/30m"  # Zulip's default
    for _ in range(5):
        assert login(api_client, user.username, "wrong").status_code == 401
    # now even the right password is refused (the counter is per login, in any case)
    locked = login(api_client, user.username.upper())
    assert locked.status_code == 429
    assert locked.json()["code"] == "login_throttled"
    assert 0 < int(locked["Retry-After"]) <= 1800


def test_unknown_logins_are_locked_out_too(api_client):
    for _ in range(5):
        assert login(api_client, "ghost", "x").status_code == 401
    assert login(api_client, "ghost", "x").status_code == 429


def test_successful_login_clears_failures(api_client, user):
    for _ in range(4):
        login(api_client, user.username, "wrong")
    assert login(api_client, user.username).status_code == 200
    for _ in range(4):
        assert login(api_client, user.username, "wrong").status_code == 401
    assert login(api_client, user.username).status_code == 200


def test_login_is_throttled_per_ip(api_client, user, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_ip": "3/30m"}
    for _ in range(3):
        assert login(api_client, user.username).status_code == 200
    response = login(api_client, user.username)
    assert response.status_code == 429
    assert "Retry-After" in response


def test_per_ip_throttle_ignores_a_forged_x_forwarded_for(api_client, user, settings):
    """With no trusted proxy (NUM_PROXIES=0), the client's own X-Forwarded-For is not its address:
    a fresh forged value per attempt must not buy a fresh bucket."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_ip": "3/30m"}
    for n in range(3):
        response = api_client.post(
            LOGIN, {"login": user.username, "password": "x"}, format="json", HTTP_X_FORWARDED_FOR=f"6.6.6.{n}"
        )
        assert response.status_code == 401
    forged = api_client.post(
        LOGIN, {"login": "other", "password": "x"}, format="json", HTTP_X_FORWARDED_FOR="7.7.7.7"
    )
    assert forged.status_code == 429
    assert int(forged["Retry-After"]) > 0


def test_behind_a_trusted_proxy_the_hop_it_appended_is_the_client(api_client, user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_ip": "2/30m"}

    def attempt(forwarded_for: str):
        return api_client.post(
            LOGIN, {"login": "ghost", "password": "x"}, format="json", HTTP_X_FORWARDED_FOR=forwarded_for
        )

    # The proxy appends the address it saw; whatever the client put before it is ignored.
    assert attempt("1.1.1.1, 203.0.113.5").status_code == 401
    assert attempt("2.2.2.2, 203.0.113.5").status_code == 401
    assert attempt("3.3.3.3, 203.0.113.5").status_code == 429
    assert attempt("203.0.113.6").status_code == 401  # another client, its own bucket


def test_register_throttle_key_is_bounded_whatever_the_address(api_client, settings):
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from accounts.api import RegisterAccountThrottle

    huge = "a" * 1_000_000 + "@example.com"
    request = Request(
        APIRequestFactory().post(REGISTER, {"email": f"  {huge.upper()} "}, format="json"),
        parsers=[JSONParser()],
    )
    key = RegisterAccountThrottle().get_cache_key(request, None)
    assert len(key) < 100
    same = Request(APIRequestFactory().post(REGISTER, {"email": huge}, format="json"), parsers=[JSONParser()])
    assert RegisterAccountThrottle().get_cache_key(same, None) == key  # any case, any padding
    # and through the API: a clear 400 on the field, counted toward the address's limit
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "register_account": "2/30m"}
    for _ in range(2):
        response = register(api_client, email=huge)
        assert response.status_code == 400 and "email" in response.json()["errors"]
    assert register(api_client, email=huge).status_code == 429


def test_login_missing_fields_is_400(api_client):
    response = api_client.post(LOGIN, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"login", "password"}


# --- me -------------------------------------------------------------------------------------------


def test_me_shows_the_caller(user, django_assert_max_num_queries):
    client = bearer(session_for(user)["access"])
    with django_assert_max_num_queries(2):
        response = client.get(ME)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == ME_FIELDS
    assert body["id"] == str(user.pk)
    assert body["email"] == user.email


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer not-a-jwt", "Token abc", "Bearer a.b.c", "Bearer x y"]
)
def test_me_without_a_valid_token_is_401(api_client, header):
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response.json()["code"] in {"not_authenticated", "token_not_valid", "bad_authorization_header"}


def test_a_denylist_that_cannot_be_read_fails_closed_with_503(user, settings):
    """Without the denylist a logged-out token would pass for a valid one: refuse instead."""
    from tests.notifications.broker import closed_port

    client = bearer(session_for(user)["access"])
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    response = client.get(ME)
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert response["Retry-After"] == "1"  # the client knows when to try again


def test_production_settings_hash_with_argon2_first():
    from messenger import settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_refresh_token_is_not_an_access_token(user):
    tokens = session_for(user)
    assert bearer(tokens["refresh"]).get(ME).status_code == 401


def test_expired_access_token_is_401(user, settings):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = str(user.pk)
    token.set_exp(lifetime=timedelta(seconds=-1))
    assert bearer(str(token)).get(ME).status_code == 401


def test_token_signed_with_another_key_is_401(user):
    import jwt

    forged = jwt.encode(
        {"user_id": str(user.pk), "token_type": "access", "exp": 9999999999, "jti": "x"},
        "some-other-key-that-is-long-enough-000000",
        algorithm="HS256",
    )
    assert bearer(forged).get(ME).status_code == 401


# --- refresh --------------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_token_dies(api_client, user):
    tokens = session_for(user)
    first = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200
    rotated = first.json()
    assert set(rotated) == {"access", "refresh"}
    assert rotated["refresh"] != tokens["refresh"]
    assert bearer(rotated["access"]).get(ME).status_code == 200

    # the new one works once more
    newer = api_client.post(REFRESH, {"refresh": rotated["refresh"]}, format="json")
    assert newer.status_code == 200
    assert bearer(newer.json()["access"]).get(ME).status_code == 200

    again = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401
    assert again.json()["code"] == "token_not_valid"
    # (and reusing a spent token ends the session: tests/accounts/test_refresh_reuse.py)


@pytest.mark.parametrize("value", ["", "garbage", "a.b.c"])
def test_refresh_with_bad_token(api_client, value):
    response = api_client.post(REFRESH, {"refresh": value}, format="json")
    assert response.status_code in (400, 401)
    assert response.json()["code"] in {"blank", "token_not_valid"}


def test_access_token_cannot_refresh(api_client, user):
    tokens = session_for(user)
    assert api_client.post(REFRESH, {"refresh": tokens["access"]}, format="json").status_code == 401


def test_inactive_user_cannot_refresh(api_client, user):
    tokens = session_for(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401


# --- logout ---------------------------------------------------------------------------------------


def test_after_logout_both_tokens_are_401(api_client, user, django_capture_on_commit_callbacks):
    tokens = session_for(user)
    client = bearer(tokens["access"])
    revoked = []

    def receiver(sender, **kwargs):
        revoked.append(kwargs)

    events.access_revoked.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    finally:
        events.access_revoked.disconnect(receiver)
    assert response.status_code == 204
    me = client.get(ME)
    assert me.status_code == 401
    assert me.json()["code"] == "token_revoked"
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    from rest_framework_simplejwt.tokens import AccessToken

    assert len(revoked) == 1
    assert revoked[0]["user_id"] == user.pk
    assert revoked[0]["jti"] == AccessToken(tokens["access"])["jti"]
    # and the selector the WebSocket gateway uses agrees
    from accounts.selectors import user_from_access_token

    assert user_from_access_token(token=tokens["access"]) is None


def test_logout_kills_every_access_token_of_the_session_only(user):
    first = session_for(user)
    other_session = session_for(user)
    from rest_framework.test import APIClient

    refreshed = APIClient().post(REFRESH, {"refresh": first["refresh"]}, format="json").json()
    rotated = bearer(refreshed["access"])
    response = bearer(first["access"]).post(LOGOUT, {"refresh": refreshed["refresh"]}, format="json")
    assert response.status_code == 204
    # the access token minted by the rotation belongs to the same session: refused too
    assert rotated.get(ME).status_code == 401
    # another device's session lives on
    assert bearer(other_session["access"]).get(ME).status_code == 200


def test_logout_requires_authentication(api_client, user):
    tokens = session_for(user)
    response = api_client.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 401
    # nothing was revoked
    assert bearer(tokens["access"]).get(ME).status_code == 200


def test_logout_with_someone_elses_refresh_token_is_401(user, other_user):
    mine, theirs = session_for(user), session_for(other_user)
    response = bearer(mine["access"]).post(LOGOUT, {"refresh": theirs["refresh"]}, format="json")
    assert response.status_code == 401
    assert bearer(theirs["access"]).get(ME).status_code == 200
    assert bearer(mine["access"]).get(ME).status_code == 200


def test_user_from_access_token_rules(user):
    from accounts.selectors import user_from_access_token

    tokens = session_for(user)
    assert user_from_access_token(token=tokens["access"]) == user
    assert user_from_access_token(token=tokens["refresh"]) is None
    assert user_from_access_token(token="garbage") is None
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert user_from_access_token(token=tokens["access"]) is None


# --- verify-email ---------------------------------------------------------------------------------


def test_verify_email_once(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        registered = register(api_client).json()
    token = verification_token_from_outbox("ann@example.com")
    response = api_client.post(VERIFY, {"token": token}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["is_verified"] is True
    assert response.json()["id"] == registered["user"]["id"]
    assert bearer(registered["access"]).get(ME).json()["is_verified"] is True
    # single use
    again = api_client.post(VERIFY, {"token": token}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_token"


def test_verify_email_token_expires(api_client, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        register(api_client)
    token = verification_token_from_outbox("ann@example.com")
    settings.ACCOUNTS_VERIFY_EMAIL_TTL_SECONDS = -1
    response = api_client.post(VERIFY, {"token": token}, format="json")
    assert response.status_code == 400
    assert User.objects.get().is_verified is False


@pytest.mark.parametrize("token", ["", "nonsense", "eyJ1IjoiMSJ9:1abc:def"])
def test_verify_email_bad_tokens(api_client, token):
    response = api_client.post(VERIFY, {"token": token}, format="json")
    assert response.status_code == 400


def test_trailing_slash_is_optional(api_client, user):
    assert (
        api_client.post(
            LOGIN + "/", {"login": user.username, "password": DEFAULT_PASSWORD}, format="json"
        ).status_code
        == 200
    )
