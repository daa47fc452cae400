"""Fixtures of the contacts tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def send(client_for, django_capture_on_commit_callbacks):
    """POST /invitations/send as `user`, the queued email sent (on-commit callbacks run)."""

    def send(user, email: str):
        with django_capture_on_commit_callbacks(execute=True):
            return client_for(user).post("/api/v1/invitations/send", {"email": email}, format="json")

    return send
