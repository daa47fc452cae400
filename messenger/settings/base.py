"""Django itself: the secret key and the production guard, hosts, apps, middleware, URLs,
templates, authentication, the security headers (check --deploy is clean with DEBUG off), i18n."""

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from messenger.settings.environment import DEBUG, VAR_DIR, env

# Django's own advice (get_random_secret_key) is 50 characters; shorter keys are refused in production.
SECRET_KEY_MIN_LENGTH = 50
# deploy/messenger.env.example's value: a copied example must not become a production key.
PLACEHOLDER_SECRET_KEYS = {"change-me-to-64-random-characters"}


def _installation_secret_key(path: Path) -> str:
    """The development key: random, made on the first start, reused after (tokens survive a
    restart), readable by this user only. Created under a temporary name and linked into place,
    so two processes starting at once agree on one key and never read a half-written file."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(64))
    try:
        os.link(temporary, path)  # fails if another process got there first: theirs is the key
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = _installation_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if not DEBUG:
    if SECRET_KEY in PLACEHOLDER_SECRET_KEYS or len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG off: set SECRET_KEY to a random value of "
            f"{SECRET_KEY_MIN_LENGTH}+ characters (not the example's placeholder)."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("Refusing to start with DEBUG off: set ALLOWED_HOSTS.")

INSTALLED_APPS = [
    "daphne",  # before staticfiles: `runserver` serves ASGI (HTTP and WebSocket)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "storages",
    "django_prometheus",
    "core",
    "realtime",
    "presence",
    "notifications",
    "accounts",
    "media",
    "relay",
    "contacts",
    "groups",
    "messaging",
    "webclient",  # the browser client's page and static files (/)
    "demo",  # manage.py demo: on top of every app
]

MIDDLEWARE = [
    # Requests by method, responses by status, latency by view (first: it times everything below).
    "core.metrics.RequestMetricsMiddleware",
    # The request id every log line of the request carries, and its one access line.
    "core.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ApiErrorMiddleware",
]

ROOT_URLCONF = "messenger.urls"
WSGI_APPLICATION = "messenger.wsgi.application"
ASGI_APPLICATION = "messenger.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# The admin login (and anything else using authenticate()) shares the API login's limits.
AUTHENTICATION_BACKENDS = ["accounts.backends.RateLimitedModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Security (check --deploy is clean with DEBUG off) -----------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes and Prometheus speak plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
X_FRAME_OPTIONS = "DENY"
APPEND_SLASH = False  # API routes accept both forms themselves; no redirects

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
