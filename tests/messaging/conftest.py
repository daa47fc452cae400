"""Helpers for the messaging tests: a sender with real HTTP calls, and event capture that keeps
each publish's `exclude_channel`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from core import events
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


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any):
    """Like `capture_events`, but each record also has `exclude_channel`; the real send still runs."""
    real_send = events._send

    @contextmanager
    def capture() -> Iterator[list[dict[str, Any]]]:
        sent: list[dict[str, Any]] = []

        def record(group_names: list[str], message: dict[str, Any]) -> None:
            sent.append(
                {
                    "groups": list(group_names),
                    "exclude_channel": message["exclude_channel"],
                    **message["event"],
                }
            )
            real_send(group_names, message)

        monkeypatch.setattr(events, "_send", record)
        with django_capture_on_commit_callbacks(execute=True):
            yield sent
        monkeypatch.setattr(events, "_send", real_send)

    return capture
