"""Failed-password counting per account, in the spirit of Zulip (5 failures per 30 minutes).

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

from django.conf import settings
from django.core.cache import cache

from messenger.core.exceptions import RateLimited
from messenger.core.throttling import parse_rate

SCOPE = "login_account"


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
