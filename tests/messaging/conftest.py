"""Fixtures of the messaging tests: a sender with real HTTP calls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.messaging.helpers import send_body


@pytest.fixture
def send(client_for):
    """`send(sender, recipient, **body_overrides)` -> the 201 response's JSON."""

    def _send(sender, recipient, expect: int = 201, **overrides: Any) -> dict[str, Any]:
        response = client_for(sender).post(
            "/api/v1/messages/send", send_body(recipient, **overrides), format="json"
        )
        assert response.status_code == expect, response.content
        return response.json()

    return _send
