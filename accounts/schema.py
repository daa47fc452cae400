"""drf-spectacular: document AccessTokenAuthentication as the Bearer JWT scheme it is."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class AccessTokenScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.AccessTokenAuthentication"
    name = "jwtAuth"
