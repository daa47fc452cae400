"""drf-spectacular: document AccessTokenAuthentication as the Bearer JWT scheme it is, and the
body of DELETE /auth/me (spectacular documents bodies for POST, PUT and PATCH only)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema


class AccessTokenScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.AccessTokenAuthentication"
    name = "jwtAuth"


class DeleteWithBodySchema(AutoSchema):
    def _get_request_body(self, direction: str = "request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"
