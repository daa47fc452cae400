"""Plain helpers of the messaging tests."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

from core import events
from messaging.services import message_send


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def send_body(recipient, **overrides: Any) -> dict[str, Any]:
    """A valid send body; an override of `...` drops that field."""
    body = {
        "recipient_id": str(recipient.pk),
        "encrypted_content": b64(os.urandom(48)),
        "encrypted_session_key": b64(os.urandom(32)),
        "sender_encrypted_session_key": b64(os.urandom(32)),
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes-256-gcm",
        "client_message_id": str(uuid.uuid4()),
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def group_of(user) -> str:
    return events.realtime_user_group_name(user.pk)


TRANSACTION_CONTROL = (
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE SAVEPOINT",
    "ROLLBACK TO SAVEPOINT",
)


def work_queries(captured) -> list[str]:
    """The statements that do work: Django 5 also logs BEGIN/COMMIT and savepoints, which every
    transactional write has, so budgets are stated without them (and pinned with them too)."""
    return [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].upper().startswith(TRANSACTION_CONTROL)
    ]


def send_through_the_service(sender, recipient, **overrides: Any):
    """One message straight through `message_send` (for threads with their own connection)."""
    arguments = {
        "sender_id": sender.pk,
        "recipient_id": recipient.pk,
        "encrypted_content": b"c",
        "encrypted_session_key": b"k",
        "sender_encrypted_session_key": None,
        "crypto_version": "1",
        "encryption_algorithm": "a",
        "client_message_id": None,
        "attachment_ids": [],
        **overrides,
    }
    message, _ = message_send(**arguments)
    return message


def b64_cursor(raw: str) -> str:
    """A cursor as a client could forge it (DRF's cursors are base64 of a query string)."""
    return base64.b64encode(raw.encode()).decode()


def assert_envelope(response, status: int, code: str | None = None) -> dict[str, Any]:
    """docs/API.md's error envelope with this status (and code): never an HTML page or a 500."""
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]
    if code:
        assert body["code"] == code
    return body
