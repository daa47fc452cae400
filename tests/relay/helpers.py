"""Plain helpers of the relay tests."""

from __future__ import annotations

import base64


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def assert_error(response, status: int, code: str) -> dict:
    """The JSON error envelope with this status and code; its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code and body["detail"]
    return body
