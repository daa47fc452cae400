"""Refresh token reuse (OAuth 2.1's rotation rule): a spent refresh token presented again ends
its whole session, the tokens it was rotated into and every access token it minted."""

from __future__ import annotations

import pytest

from accounts import events
from tests.accounts.helpers import LOGOUT, ME, REFRESH, bearer, session_for

pytestmark = pytest.mark.django_db


def refresh(api_client, token: str):
    return api_client.post(REFRESH, {"refresh": token}, format="json")


@pytest.fixture
def revocations():
    """What accounts.events.access_revoked was sent (the gateway closes sockets on it)."""
    calls = []

    def record(sender, **kwargs):
        kwargs.pop("signal", None)
        calls.append(kwargs)

    events.access_revoked.connect(record)
    yield calls
    events.access_revoked.disconnect(record)


def test_reusing_a_rotated_token_kills_the_tokens_it_was_rotated_into(api_client, user):
    stolen = session_for(user)
    first = refresh(api_client, stolen["refresh"]).json()  # the legitimate client rotates
    second = refresh(api_client, first["refresh"]).json()  # ... and again
    assert bearer(second["access"]).get(ME).status_code == 200

    reused = refresh(api_client, stolen["refresh"])  # the thief tries the copy
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_not_valid"

    # The newest refresh token of the family is refused, and so is every access token of it.
    newest = refresh(api_client, second["refresh"])
    assert newest.status_code == 401
    for access in (stolen["access"], first["access"], second["access"]):
        assert bearer(access).get(ME).status_code == 401


def test_the_other_sessions_of_the_user_live_on(api_client, user):
    victim_session, other_session = session_for(user), session_for(user)
    rotated = refresh(api_client, victim_session["refresh"]).json()
    assert refresh(api_client, victim_session["refresh"]).status_code == 401
    assert refresh(api_client, rotated["refresh"]).status_code == 401
    assert bearer(other_session["access"]).get(ME).status_code == 200
    assert refresh(api_client, other_session["refresh"]).status_code == 200


def test_reuse_closes_the_sessions_sockets(api_client, user, django_capture_on_commit_callbacks, revocations):
    session = session_for(user)
    refresh(api_client, session["refresh"])
    with django_capture_on_commit_callbacks(execute=True):
        assert refresh(api_client, session["refresh"]).status_code == 401
    from rest_framework_simplejwt.tokens import RefreshToken

    session_id = RefreshToken(session["refresh"], verify=False)["sid"]
    assert revocations == [{"user_id": user.pk, "jti": None, "session_id": session_id}]


def test_garbage_and_forged_tokens_end_no_session(api_client, user):
    session = session_for(user)
    forged = session["refresh"][:-4] + ("AAAA" if not session["refresh"].endswith("AAAA") else "BBBB")
    assert refresh(api_client, forged).status_code == 401
    assert refresh(api_client, "garbage").status_code == 401
    assert bearer(session["access"]).get(ME).status_code == 200
    assert refresh(api_client, session["refresh"]).status_code == 200


def test_a_logged_out_token_presented_again_is_still_just_401(
    api_client, user, django_capture_on_commit_callbacks, revocations
):
    session = session_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = bearer(session["access"]).post(LOGOUT, {"refresh": session["refresh"]}, format="json")
    assert response.status_code == 204
    assert len(revocations) == 1  # the logout's own
    with django_capture_on_commit_callbacks(execute=True):
        again = refresh(api_client, session["refresh"])
    assert (again.status_code, again.json()["code"]) == (401, "token_not_valid")
    assert len(revocations) == 1  # the session had ended: nothing more to end


def test_presenting_the_spent_token_again_and_again_ends_the_session_once(
    api_client, user, django_capture_on_commit_callbacks, django_assert_max_num_queries, revocations
):
    """Whoever holds a copied token can repeat it at will (the refresh endpoint takes no
    credential): after the first reuse has ended the session, a repeat is a plain 401 that
    neither scans the user's tokens again nor broadcasts another close to their sockets."""
    session = session_for(user)
    refresh(api_client, session["refresh"])
    with django_capture_on_commit_callbacks(execute=True):
        assert refresh(api_client, session["refresh"]).status_code == 401
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(4):
            repeated = refresh(api_client, session["refresh"])
        assert repeated.status_code == 401
        assert repeated.json()["code"] == "token_not_valid"
    assert len(revocations) == 1
