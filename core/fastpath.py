"""The checks the hot endpoints' fast paths share (messaging/send_body.py, groups/send_body.py).

A fast path checks a valid body in one pass with no DRF field objects and declines anything else
(`NOT_VALID`), which then goes through the endpoint's serializer: every error stays the
serializer's own. Each check here accepts exactly what the DRF field it stands for accepts and
gives the same value; the apps' tests hold each fast path to its serializer over a corpus.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from uuid import UUID

NOT_VALID: Any = object()  # the fast path declines: the serializer decides (and explains)


def uuid_or_not_valid(value: Any) -> Any:
    """DRF's UUIDField on a string: the UUID, else NOT_VALID."""
    if type(value) is not str:
        return NOT_VALID
    try:
        return UUID(hex=value)  # what DRF's UUIDField does with a string
    except ValueError:
        return NOT_VALID


def base64_or_not_valid(value: Any, limit: int) -> Any:
    """core.fields.Base64BytesField's rules: a string, within `limit` decoded bytes (over it, the
    serializer gives the 413), canonical standard base64, not empty; the bytes, else NOT_VALID."""
    if type(value) is not str or not value:
        return NOT_VALID
    if (len(value) // 4) * 3 - value[-2:].count("=") > limit:
        return NOT_VALID
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return NOT_VALID
    if not decoded or base64.b64encode(decoded) != value.encode("ascii"):
        return NOT_VALID
    return decoded
