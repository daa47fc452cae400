"""The login limits every login path shares: the API's `POST /auth/login`, the admin's login form
and anything else that goes through Django's `authenticate()` (accounts.backends).

Per address: every login attempt from one client address counts (THROTTLE_RATES["login_ip"]),
one counter for all paths (LoginIPThrottle's cache key).

Per account: failed-password counting, in the spirit of Zulip (5 failures per 30 minutes).

The key is the login as typed (lower-cased and hashed), not the user row: an unknown login is
counted exactly like a real one, so the limiter is no account oracle either. Once the limit is
reached every attempt is refused with 429 *before* the password is checked, so a correct guess
during the lock-out is not even tested. A successful login clears the counter.

Rate from settings.THROTTLE_RATES["login_account"]; counters in the default cache (Redis in the
real mode: atomic `incr`, shared by every process). Fixed window starting at the first failure.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from core.exceptions import RateLimited
from core.throttling import IPRateThrottle, parse_rate

SCOPE = "login_account"


class LoginIPThrottle(IPRateThrottle):
    """Login attempts per client address (the API view's throttle, and check_address_allowed's)."""

    scope = "login_ip"


def check_address_allowed(request: Any) -> None:
    """Count one login attempt from this request's address on the API login's counter;
    RateLimited (429 with Retry-After) past the rate. For paths that are not the DRF view."""
    throttle = LoginIPThrottle()
    if not throttle.allow_request(request, None):
        raise RateLimited(
            "Too many login attempts from this address; try again later.",
            code="throttled",
            retry_after=throttle.wait() or 1,
        )


def _keys(login: str) -> tuple[str, str]:
    digest = hashlib.sha256(login.strip().lower().encode()).hexdigest()
    return f"accounts:login_fail:{digest}:n", f"accounts:login_fail:{digest}:t0"


def _rate() -> tuple[int, int]:
    return parse_rate(settings.THROTTLE_RATES[SCOPE])


def check_login_allowed(*, login: str) -> None:
    """RateLimited (429 with Retry-After) while this login has used up its failures."""
    limit, window = _rate()
    count_key, start_key = _keys(login)
    values = cache.get_many([count_key, start_key])
    if int(values.get(count_key) or 0) >= limit:
        started = float(values.get(start_key) or time.time())
        retry_after = max(1, int(started + window - time.time()))
        raise RateLimited(
            "Too many failed logins for this account; try again later.",
            code="login_throttled",
            retry_after=retry_after,
        )


def record_login_failure(*, login: str) -> None:
    _, window = _rate()
    count_key, start_key = _keys(login)
    cache.add(start_key, time.time(), timeout=window)
    cache.add(count_key, 0, timeout=window)
    try:
        cache.incr(count_key)
    except ValueError:  # expired between add and incr: start a new window
        cache.set(count_key, 1, timeout=window)


def clear_login_failures(*, login: str) -> None:
    cache.delete_many(list(_keys(login)))
