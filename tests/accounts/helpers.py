"""Helpers shared by the accounts tests."""

from __future__ import annotations

import re

from django.core import mail
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
VERIFY = "/api/v1/auth/verify-email"
STRONG_PASSWORD = "violet-Orbit-42-lantern"


def login(client: APIClient, login: str, password: str = DEFAULT_PASSWORD):
    return client.post(LOGIN, {"login": login, "password": password}, format="json")


def session_for(user, password: str = DEFAULT_PASSWORD) -> dict:
    """A real login through the API: {"user", "access", "refresh"}."""
    response = login(APIClient(), user.username, password)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def verification_token_from_outbox(address: str) -> str:
    messages = [m for m in mail.outbox if address in m.to]
    assert messages, f"no email to {address}"
    match = re.search(r"token[=:]\s*([A-Za-z0-9_\-:.%]+)", str(messages[-1].body))
    assert match, messages[-1].body
    from urllib.parse import unquote

    return unquote(match.group(1))
