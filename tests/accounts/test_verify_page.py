"""The verification email's link lands on a page that verifies (issue 16).

The link is FRONTEND_URL + /verify-email?token=...; until a web client serves that path, this
server does. Opening it verifies nothing (mail scanners open every link); its button POSTs the
token to the API, which verifies once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html import unescape
from urllib.parse import urlsplit

from django.conf import settings
from django.core import mail

from accounts.models import User
from tests.accounts.helpers import REGISTER, STRONG_PASSWORD, VERIFY


def register_and_get_link(client, django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            REGISTER,
            {"email": "ann@example.com", "username": "ann", "password": STRONG_PASSWORD},
            content_type="application/json",
        )
    assert response.status_code == 201, response.content
    (message,) = [m for m in mail.outbox if "ann@example.com" in m.to]
    match = re.search(r"https?://\S+/verify-email\?token=\S+", str(message.body))
    assert match, message.body
    return match.group(0)


def test_the_emailed_link_opens_a_page_that_verifies_only_on_click(
    client, db, django_capture_on_commit_callbacks, settings
):
    settings.FRONTEND_URL = "http://testserver"
    link = register_and_get_link(client, django_capture_on_commit_callbacks)
    parts = urlsplit(link)

    page = client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    assert "no-cache" in page["Cache-Control"] or "no-store" in page["Cache-Control"]
    assert page["Referrer-Policy"] == "no-referrer"
    html = page.content.decode()
    # The page carries the token to the API endpoint that verifies it...
    token = unescape(re.search(r'name="token" value="([^"]+)"', html).group(1))
    assert 'data-endpoint="/api/v1/auth/verify-email"' in html
    # ...and opening it (a scanner, a preview) verified nothing.
    assert User.objects.get(username="ann").is_verified is False

    # The button's request: the token from the page, POSTed as JSON.
    verified = client.post(VERIFY, {"token": token}, content_type="application/json")
    assert verified.status_code == 200, verified.content
    assert verified.json()["is_verified"] is True
    assert User.objects.get(username="ann").is_verified is True


def test_the_page_escapes_what_it_is_given(client, db):
    page = client.get("/verify-email", {"token": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert b"<script>alert(1)" not in page.content


def test_the_page_without_a_token_says_so(client, db):
    page = client.get("/verify-email")
    assert page.status_code == 200
    assert b"no token" in page.content
    assert client.post("/verify-email", {"token": "x"}).status_code == 405


def test_frontend_url_defaults_to_the_address_make_run_serves():
    """HOST and PORT (the Makefile's) make the default link; 0.0.0.0 links to loopback."""

    def frontend_url(**env: str) -> str:
        environment = {k: v for k, v in os.environ.items() if k not in {"FRONTEND_URL", "HOST", "PORT"}}
        environment.update({"DEBUG": "1", "DJANGO_SETTINGS_MODULE": "messenger.settings", **env})
        result = subprocess.run(
            [sys.executable, "-c", "from django.conf import settings; print(settings.FRONTEND_URL)"],
            cwd=settings.BASE_DIR,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip()

    assert frontend_url() == "http://127.0.0.1:8000"
    assert frontend_url(PORT="8765") == "http://127.0.0.1:8765"
    assert frontend_url(HOST="0.0.0.0", PORT="9000") == "http://127.0.0.1:9000"
    assert frontend_url(FRONTEND_URL="https://chat.example", PORT="9000") == "https://chat.example"
