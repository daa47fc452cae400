"""Settings of the relay-only process (see the package docstring): the monolith's settings with
fewer apps, fewer middlewares and relay's routes alone."""

from messenger.settings import *  # noqa: F403
from messenger.settings import CELERY_BEAT_SCHEDULE as _MONOLITH_BEAT_SCHEDULE
from messenger.settings import REST_FRAMEWORK as _MONOLITH_REST_FRAMEWORK
from messenger.settings import SPECTACULAR_SETTINGS as _MONOLITH_SPECTACULAR_SETTINGS

INSTALLED_APPS = [
    "django.contrib.auth",  # accounts.User's permissions mixin
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",  # accounts.tokens reads outstanding tokens
    "drf_spectacular",
    "accounts",
    "relay",
]

# The monolith's, less sessions, messages, auth and static files (no admin, no browser pages).
# CSRF and frame options stay so `check --deploy` is clean (DRF's views are CSRF-exempt: Bearer).
MIDDLEWARE = [
    "core.metrics.RequestMetricsMiddleware",
    "core.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ApiErrorMiddleware",
]

ROOT_URLCONF = "messenger.relay_service.urls"
WSGI_APPLICATION = "messenger.relay_service.wsgi.application"
ASGI_APPLICATION = "messenger.relay_service.asgi.application"

# JSON only: the browsable API would need templates and static files this process does not serve.
REST_FRAMEWORK = {
    **_MONOLITH_REST_FRAMEWORK,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}

# The relay's periodic task only (the others belong to apps this process does not install).
CELERY_BEAT_SCHEDULE = {
    name: entry for name, entry in _MONOLITH_BEAT_SCHEDULE.items() if entry["task"].startswith("relay.")
}

# Its own schema: relay's routes, without the other apps' enum names (they would import them).
SPECTACULAR_SETTINGS = {
    **_MONOLITH_SPECTACULAR_SETTINGS,
    "TITLE": "Messenger Relay API",
    "DESCRIPTION": "Ephemeral store-and-forward of end-to-end-encrypted envelopes.",
    "ENUM_NAME_OVERRIDES": {},
}

# Readiness: the database and Redis (object storage is not this process's business).
S3_BUCKET = ""
