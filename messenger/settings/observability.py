"""Observability: who may read /metrics, and the logs' format and filters."""

from django.core.exceptions import ImproperlyConfigured

from messenger.settings.environment import REDIS_URL, database_url, env

# Who may read /metrics: "loopback" (the TCP peer is 127.0.0.0/8 or ::1), "token" (the header
# `Authorization: Bearer <METRICS_TOKEN>`), both ("loopback,token"), or "none". Everyone else gets
# the 404 of an unknown path.
METRICS_ALLOWED = set(env.list("METRICS_ALLOWED", default=["loopback"]))
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if METRICS_ALLOWED - {"loopback", "token", "none"}:
    raise ImproperlyConfigured("METRICS_ALLOWED takes loopback, token or none (comma-separated).")
if "token" in METRICS_ALLOWED and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_ALLOWED=token needs a METRICS_TOKEN of 32+ characters.")
# A Celery worker's or beat's own metrics server (they serve no HTTP otherwise); 0: none.
METRICS_PORT = env.int("METRICS_PORT", default=0)

# LOG_FORMAT: json (one object a line, for a log pipeline) or text (readable); json by default
# in real mode (REDIS_URL or a database URL set), text in the embedded mode. Every line carries
# the request id, user id and socket ids in context and is redacted (core/logging.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if (REDIS_URL or database_url) else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "core.logging.JsonFormatter"},
        "text": {"()": "core.logging.TextFormatter"},
    },
    "filters": {
        "context": {"()": "core.logging.RequestContext"},
        "redact_credentials": {"()": "core.logging.RedactCredentials"},
        "drop_query_strings": {"()": "core.logging.DropQueryStrings"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "redact_credentials"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # uvicorn's access and handshake lines lose their query strings here, so that every way
        # of starting it (make run, Procfile, deploy/, tests, bench) logs none.
        **{
            name: {"handlers": ["console"], "filters": ["drop_query_strings"], "propagate": False}
            for name in ("uvicorn.error", "uvicorn.access")
        },
        "daphne": {"handlers": ["console"], "propagate": False},
    },
}
