"""Rate limits whose rates live in `settings.THROTTLE_RATES`, read on every request.

DRF's SimpleRateThrottle copies its rates once, at import; reading them per request lets an
operator (or a test's `settings` fixture) change a rate and see it applied. Counters live in the
default cache: Redis in the real mode, so every process shares them.
"""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from messenger.core import metrics

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*$")


def parse_rate(rate: str) -> tuple[int, int]:
    """ "5/30m" -> (5, 1800); "100/minute" -> (100, 60)."""
    match = _RATE.match(rate)
    if not match:
        raise ValueError(f"Bad throttle rate {rate!r}: use e.g. '5/30m' or '100/minute'.")
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * _UNITS[unit]


class SettingsRateThrottle(SimpleRateThrottle):
    """Subclasses set `scope` (a key of THROTTLE_RATES) and `get_cache_key`."""

    def __init__(self) -> None:  # no super(): it would read the rate from DRF's frozen settings
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str | None:
        return settings.THROTTLE_RATES.get(self.scope)

    def throttle_failure(self) -> bool:
        metrics.throttled(self.scope)
        return super().throttle_failure()

    def parse_rate(self, rate: str | None) -> tuple[int | None, int | None]:
        if rate is None:
            return None, None
        return parse_rate(rate)


class UserRateThrottle(SettingsRateThrottle):
    """Per authenticated user (falls back to the IP for anonymous callers)."""

    scope = "user_default"

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        user = getattr(request, "user", None)
        ident = str(user.pk) if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class IPRateThrottle(SettingsRateThrottle):
    """Per client address; subclasses only set `scope`."""

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class _ScopeForUser(UserRateThrottle):
    def __init__(self, scope: str, user_id: object) -> None:
        self.scope = scope
        self.user_id = user_id
        super().__init__()

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        return self.cache_format % {"scope": self.scope, "ident": str(self.user_id)}


def user_throttle_wait(*, scope: str, user_id: object) -> float | None:
    """A REST per-user throttle applied to a caller that is not an HTTP request (a WebSocket
    frame doing what an endpoint does), sharing that endpoint's counter: None when allowed,
    else the seconds to wait."""
    throttle = _ScopeForUser(scope, user_id)
    if throttle.allow_request(None, None):  # type: ignore[arg-type]
        return None
    return throttle.wait() or 1.0
