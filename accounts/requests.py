"""Request types for views: what `request.user` is, given REST_FRAMEWORK's
`UNAUTHENTICATED_USER = None` (an anonymous caller's user is None, never `AnonymousUser`).

Annotations only: DRF builds plain `Request`s. The stubs type `request.user` as
`User | AnonymousUser`, which is true of neither kind of view here.
"""

from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework_simplejwt.tokens import Token

from accounts.models import User


class AuthenticatedRequest(Request):
    """A request to a view behind `IsAuthenticated` (every view's default permission): the
    caller signed in, so `request.user.pk` is their UUID, and `request.auth` is the access token
    they sent (accounts.authentication, the only authentication class)."""

    user: User
    auth: Token


class OptionallyAuthenticatedRequest(Request):
    """A request to an `AllowAny` view that reads the caller when there is one."""

    user: User | None  # type: ignore[assignment]  # the stubs know no UNAUTHENTICATED_USER = None


class AuthenticatedHttpRequest(HttpRequest):
    """A request to the admin: its user signed in there (the admin lets no one else in)."""

    user: User
