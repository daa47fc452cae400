"""Helpers shared by the accounts tests."""

from __future__ import annotations

import base64
import os
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


# --- the prekey directory (PUT /keys, GET /keys/{userId}, GET /keys/count) -----------------------

KEYS = "/api/v1/keys"
COUNT = "/api/v1/keys/count"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def key(n: int = 32) -> str:
    return b64(os.urandom(n))


def bundle(one_time: range | list[int] = range(0), identity: str | None = None, spk_id: int = 1) -> dict:
    return {
        "identity_key": identity or key(32),
        "signed_prekey": {"key_id": spk_id, "public_key": key(32), "signature": key(64)},
        "one_time_prekeys": [{"key_id": i, "public_key": key(32)} for i in one_time],
    }


def claim_path(user) -> str:
    return f"{KEYS}/{user.pk}"
