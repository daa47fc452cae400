"""Serializer fields shared by the apps."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from rest_framework import serializers

from messenger.core.exceptions import PayloadTooLargeAPIException


class Base64BytesField(serializers.Field):
    """Standard base64 (with padding) in, `bytes` out; `bytes` rendered back as base64.

    Its OpenAPI schema (`format: byte`, `minLength`) is messenger.core.schema's extension.

    Invalid base64 is a 400 on the field; more than `max_bytes` decoded bytes is a 413 for the
    whole request. The length is checked before decoding, so an oversized value costs no decode.
    Only the canonical encoding is accepted (what every standard encoder writes): Python's strict
    decoder still lets through surplus padding ("YWJj=") and non-zero trailing bits ("QR=="), and
    two spellings of one ciphertext would defeat clients that compare or deduplicate by value.
    """

    default_error_messages = {
        "invalid": "Not valid standard base64.",
        "empty": "Must not be empty.",
        "type": "Must be a base64 string.",
    }

    def __init__(self, *, max_bytes: int | None = None, allow_empty: bool = False, **kwargs: Any) -> None:
        self.max_bytes = max_bytes
        self.allow_empty = allow_empty
        super().__init__(**kwargs)

    def _limit(self) -> int | None:
        return self.max_bytes() if callable(self.max_bytes) else self.max_bytes

    def to_internal_value(self, data: Any) -> bytes:
        if not isinstance(data, str):
            self.fail("type")
        limit = self._limit()
        # 4 base64 characters carry 3 bytes; padding makes this an upper bound on the decoded size.
        if limit is not None and (len(data) // 4) * 3 - data[-2:].count("=") > limit:
            raise PayloadTooLargeAPIException(
                f"Field '{self.field_name}' is larger than {limit} bytes once decoded."
            )
        try:
            decoded = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.fail("invalid")
        if base64.b64encode(decoded) != data.encode("ascii"):
            self.fail("invalid")
        if not decoded and not self.allow_empty:
            self.fail("empty")
        return decoded

    def to_representation(self, value: bytes | memoryview | str) -> str:
        if isinstance(value, str):
            return value
        return base64.b64encode(bytes(value)).decode("ascii")


def is_ascii_integer(value: str) -> bool:
    """Plain ASCII digits, an optional leading minus: what this API means by an integer in a
    query string. int() also reads "١٢" (Arabic-Indic), U+FF11 (a fullwidth one), " 1", "+1", "1_000"."""
    digits = value[1:] if value.startswith("-") else value
    return digits.isascii() and digits.isdigit()


class AsciiIntegerField(serializers.IntegerField):
    """IntegerField for query parameters: anything but ASCII digits is `invalid` (a 400)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not is_ascii_integer(data):
            self.fail("invalid")
        return super().to_internal_value(data)
