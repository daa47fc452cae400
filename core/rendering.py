"""Values written as JSON the way DRF's fields write them, without a field object per value.

Hot paths (a history page, /sync, the socket events) build their bodies as plain dicts; these keep
the text byte-for-byte what `serializers.DateTimeField` and the base64 field wrote before, so REST,
/sync and the socket carry the same strings.
"""

from __future__ import annotations

from base64 import b64encode
from datetime import datetime, tzinfo
from typing import Any, overload

from django.utils import timezone
from rest_framework.fields import DateTimeField

_drf_datetime = DateTimeField()


@overload
def iso(value: datetime, zone: tzinfo | None = None) -> str: ...
@overload
def iso(value: None, zone: tzinfo | None = None) -> None: ...
@overload
def iso(value: datetime | None, zone: tzinfo | None = None) -> str | None: ...


def iso(value: Any, zone: tzinfo | None = None) -> str | None:
    """`DateTimeField().to_representation`: in the current time zone, ISO 8601, `Z` for UTC.

    The aware case is done here (DRF's costs a field lookup of its settings and its time zone
    per call, a fifth of a page of 50's rendering); anything else goes to DRF itself. A page
    passes `zone`, `current_zone()` read once: reading it is most of a call's cost.
    """
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        text: str = _drf_datetime.to_representation(value)
        return text
    text = value.astimezone(timezone.get_current_timezone() if zone is None else zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def current_zone() -> tzinfo:
    """The time zone `iso` writes in (Django's current one), for a page to read once."""
    return timezone.get_current_timezone()


def b64(value: bytes | memoryview | None) -> str | None:
    """Standard base64 of bytes (a BinaryField gives a memoryview under psycopg), None kept."""
    return None if value is None else b64encode(value).decode("ascii")
