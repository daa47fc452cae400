"""Django's `authenticate()` under the API login's limits.

The admin's login form (and any other login built on `authenticate()`) goes through this backend,
so it counts on the same per-address and per-account counters as `POST /auth/login`
(accounts.ratelimit): a lock-out earned on one path holds on every other, and while an account is
locked a correct password is not even checked.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts import ratelimit
from accounts.models import User
from core.exceptions import RateLimited

# Set on the request when a limit refused the attempt: the admin's login form then says so
# instead of "wrong password" (accounts.admin.RateLimitedAdminAuthenticationForm).
REFUSED_ATTRIBUTE = "login_rate_limited"


class RateLimitedModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            if request is not None:
                ratelimit.check_address_allowed(request)
            ratelimit.check_login_allowed(login=username)
        except RateLimited as exc:
            if request is not None:
                setattr(request, REFUSED_ATTRIBUTE, exc)
            # PermissionDenied stops authenticate() here: no other backend gets to try.
            raise PermissionDenied(exc.message) from None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:  # unknown, wrong password or inactive: counted alike, as on the API
            ratelimit.record_login_failure(login=username)
        else:
            ratelimit.clear_login_failures(login=username)
        return user
