"""Rate limits whose rates live in `settings.THROTTLE_RATES`, read on every request.

DRF's SimpleRateThrottle copies its rates once, at import; reading them per request lets an
operator (or a test's `settings` fixture) change a rate and see it applied.

A counter per key, not DRF's list of request times (read, trimmed and written whole on every
request: about 1.3 ms at a few thousand entries, and a lost update between two processes): a
fixed window that starts at the key's first request. `count` requests pass, the next ones are
429 with Retry-After = what is left of the window, and the window's end starts afresh. Refused
requests count too, but never lengthen the window. One Redis round trip per check (a Lua
script: INCR, PEXPIRE on the first, PTTL), shared by every process; the local-memory cache of
the embedded mode does the same under its lock. The price of a fixed window: a client may fit
up to twice the rate into a span of one window straddling two windows (DRF's log allowed none).
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from core import metrics

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*$")


def parse_rate(rate: str) -> tuple[int, int]:
    """ "5/30m" -> (5, 1800); "100/minute" -> (100, 60)."""
    match = _RATE.match(rate)
    if not match:
        raise ValueError(f"Bad throttle rate {rate!r}: use e.g. '5/30m' or '100/minute'.")
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * _UNITS[unit]


def count_in_window(key: str, seconds: int) -> tuple[int, float]:
    """One hit on `key`: (hits in its window so far, this one included; seconds left of it)."""
    counter = getattr(cache, "count_in_window", None)
    if counter is not None:  # core.cache's backends: one atomic step
        return counter(key, seconds)
    # Any other backend (a test's, an operator's): add-then-incr, atomic where incr is.
    cache.add(key, 0, timeout=seconds)
    try:
        return cache.incr(key), float(seconds)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=seconds)
        return 1, float(seconds)


class SettingsRateThrottle(SimpleRateThrottle):
    """Subclasses set `scope` (a key of THROTTLE_RATES) and `get_cache_key`."""

    # Not DRF's `throttle_%(scope)s_%(ident)s`: those keys hold DRF's lists, which INCR refuses;
    # a rolling upgrade's new processes count beside the old ones' instead of failing on them.
    cache_format = "throttle:%(scope)s:%(ident)s"

    def __init__(self) -> None:  # no super(): it would read the rate from DRF's frozen settings
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.retry_after: float | None = None

    def get_rate(self) -> str | None:
        return settings.THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        count, seconds_left = count_in_window(self.key, self.duration)
        if count <= self.num_requests:
            return True
        self.retry_after = seconds_left
        return self.throttle_failure()

    def throttle_failure(self) -> bool:
        metrics.throttled(self.scope)
        return False

    def wait(self) -> float | None:
        """Seconds until the window ends (Retry-After), after a refusal."""
        return self.retry_after

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
