"""Responses that carry credentials (tokens, tickets) are never stored by a cache (RFC 6749 5.1)."""

from __future__ import annotations

import pytest

from tests.accounts.helpers import LOGIN, REFRESH, REGISTER, STRONG_PASSWORD, bearer, session_for
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def assert_not_cacheable(response) -> None:
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"


def test_register_login_refresh_and_ws_ticket_are_no_store(api_client, user):
    registered = api_client.post(
        REGISTER,
        {"email": "nina@example.com", "username": "nina", "password": STRONG_PASSWORD},
        format="json",
    )
    assert registered.status_code == 201
    assert_not_cacheable(registered)

    logged_in = api_client.post(LOGIN, {"login": user.username, "password": DEFAULT_PASSWORD}, format="json")
    assert logged_in.status_code == 200
    assert_not_cacheable(logged_in)

    refreshed = api_client.post(REFRESH, {"refresh": logged_in.json()["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert_not_cacheable(refreshed)

    ticket = bearer(session_for(user)["access"]).post("/api/v1/auth/ws-ticket")
    assert ticket.status_code == 200 and ticket.json()["ticket"]
    assert_not_cacheable(ticket)
