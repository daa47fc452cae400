"""Serializer fields shared by the apps."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from rest_framework import serializers
from rest_framework.utils import html

from core.exceptions import PayloadTooLargeAPIException


class Base64BytesField(serializers.Field):
    """Standard base64 (with padding) in, `bytes` out; `bytes` rendered back as base64.

    Its OpenAPI schema (`format: byte`, `minLength`) is core.schema's extension.

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


class StrictStringMixin:
    """Refuses a value that is not a JSON string. DRF's CharField (and RegexField, EmailField...)
    turns `5` into "5": a client sending an integer `description` got it stored as a string, and
    the OpenAPI schema (`type: string`) says it is invalid input."""

    def get_value(self, dictionary: Any) -> Any:
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":  # type: ignore[attr-defined]
            return ""  # a form or query field sent empty is a value (DRF: as if omitted)
        return super().get_value(dictionary)  # type: ignore[misc]

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("not_a_string")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictCharField(StrictStringMixin, serializers.CharField):
    default_error_messages = {"not_a_string": "Must be a string."}


class StrictRegexField(StrictStringMixin, serializers.RegexField):
    default_error_messages = {"not_a_string": "Must be a string."}


_INTEGER = re.compile(r"-?[0-9]+")


class StrictIntegerField(serializers.IntegerField):
    """An integer as the OpenAPI schema says `type: integer`: a JSON integer, or in a query string
    the digits of one. DRF's IntegerField also takes "5" in a JSON body, 5.0, "5.0" and "5 ", and
    treats an empty `?limit=` as absent; each of those is a 400 here."""

    def get_value(self, dictionary: Any) -> Any:
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""  # sent, and empty: not the same as omitted
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> int:
        # Text is how a query string or a form carries a number; a JSON body has real integers.
        from_query = isinstance(data, str) and html.is_html_input(getattr(self.root, "initial_data", None))
        if isinstance(data, bool) or not (isinstance(data, int) or (from_query and _INTEGER.fullmatch(data))):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID as the schema says (`type: string, format: uuid`): DRF's UUIDField also turns an
    integer into one (`0`, `false` -> 00000000-...), so a body's `client_message_id: 0` was kept."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)
