"""The verification email's link lands in the web client, which verifies on a click (issue 16, 18).

The link is FRONTEND_URL + /verify-email?token=...; the server answers the client's page there
(webclient/), whose script shows a button that POSTs the token to the API. Opening the link
verifies nothing (mail scanners open every link). The click itself is a browser test
(tests/browser/test_webclient.py); here: what the server answers on the link, and that the
token the link carries is the one the API takes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

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


def test_the_emailed_link_opens_the_client_and_verifies_only_when_its_token_is_posted(
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
    # The client's page (its script reads the token from the address bar and asks first)...
    assert re.search(r'<script type="module" src="/static/webclient/app\.js">', html)
    token = parse_qs(parts.query)["token"][0]
    assert token not in html  # nothing of the query is echoed into the page
    # ...and opening it (a scanner, a preview) verified nothing.
    assert User.objects.get(username="ann").is_verified is False

    # The button's request: the token from the link, POSTed as JSON.
    verified = client.post(VERIFY, {"token": token}, content_type="application/json")
    assert verified.status_code == 200, verified.content
    assert verified.json()["is_verified"] is True
    assert User.objects.get(username="ann").is_verified is True


def test_the_page_echoes_nothing_it_is_given(client, db):
    page = client.get("/verify-email", {"token": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert b"alert(1)" not in page.content


def test_the_link_only_answers_get(client, db):
    assert client.get("/verify-email").status_code == 200
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
