"""Settings for Messenger, read from the environment.

Two modes (docs/ARCHITECTURE.md, "Settings and the two modes"):

- embedded: nothing set. SQLite, the in-memory channel layer, a local-memory cache, files under
  ./var/media, Celery tasks run eagerly, email printed to the console. Runs on a bare machine.
- real: DATABASE_URL (PostgreSQL), REDIS_URL (cache, channel layer, relay, rate limits, Celery
  broker; CHANNEL_LAYER_REDIS_URLS shards the channel layer over several instances), S3_BUCKET + S3_ENDPOINT_URL (S3 or MinIO through django-storages), EMAIL_URL (SMTP).

Production guard: with DEBUG off (the default) the process refuses to start without a SECRET_KEY
of 50+ characters (the deploy example's placeholder refused too) or with an empty ALLOWED_HOSTS.
`make run` sets DEBUG=1 for the local server, which then signs with a random key generated once per
installation and kept in var/secret_key (never a key from the repository: with one, anyone could
forge a JWT for any user of any `make run` server).
"""

import os
import secrets
import warnings
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

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
# Browser origins allowed to open /ws/ (apps and scripts send no Origin and are let through).
WEBSOCKET_ALLOWED_ORIGINS = env.list("WEBSOCKET_ALLOWED_ORIGINS", default=[])
# The gateway (realtime): a socket must authenticate within REALTIME_AUTH_TIMEOUT_SECONDS;
# a ticket from POST /auth/ws-ticket is good once, for REALTIME_TICKET_TTL_SECONDS; a client frame
# over REALTIME_MAX_FRAME_BYTES is refused with an error frame.
REALTIME_AUTH_TIMEOUT_SECONDS = env.float("REALTIME_AUTH_TIMEOUT_SECONDS", default=10.0)
REALTIME_TICKET_TTL_SECONDS = env.int("REALTIME_TICKET_TTL_SECONDS", default=30)
# 128 KiB: room for a `message.send` at MESSAGE_MAX_CIPHERTEXT_BYTES (base64 makes 64 KiB ~87 KiB).
REALTIME_MAX_FRAME_BYTES = env.int("REALTIME_MAX_FRAME_BYTES", default=128 * 1024)
# Before authenticating, a socket may send one `auth` frame of at most this size (a token is at
# most 4 KiB); anything else, bigger, or later than REALTIME_AUTH_TIMEOUT_SECONDS closes it (4401).
REALTIME_PREAUTH_MAX_FRAME_BYTES = env.int("REALTIME_PREAUTH_MAX_FRAME_BYTES", default=8 * 1024)
# Open sockets per user, counted across processes where presence counts them; the next one is
# closed with 4409. 0 turns the cap off.
REALTIME_MAX_SOCKETS_PER_USER = env.int("REALTIME_MAX_SOCKETS_PER_USER", default=20)
# Client frames per connection (realtime/ratelimit.py): past the soft bucket a frame is
# answered with a 429 error frame; past the hard one the socket is closed with 4429.
REALTIME_FRAME_RATE_PER_SECOND = env.float("REALTIME_FRAME_RATE_PER_SECOND", default=10.0)
REALTIME_FRAME_BURST = env.float("REALTIME_FRAME_BURST", default=30.0)
REALTIME_FRAME_HARD_RATE_PER_SECOND = env.float("REALTIME_FRAME_HARD_RATE_PER_SECOND", default=30.0)
REALTIME_FRAME_HARD_BURST = env.float("REALTIME_FRAME_HARD_BURST", default=100.0)
# Relay delivery on the socket: up to REALTIME_RELAY_WINDOW pending envelopes in flight, each
# pushed again every REALTIME_RELAY_REPUSH_SECONDS until the client sends `relay.ack`.
REALTIME_RELAY_WINDOW = env.int("REALTIME_RELAY_WINDOW", default=100)
REALTIME_RELAY_REPUSH_SECONDS = env.float("REALTIME_RELAY_REPUSH_SECONDS", default=30.0)

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
    # Requests' counts, latencies and statuses (first and last: they time everything between).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
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
    "django_prometheus.middleware.PrometheusAfterMiddleware",
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

# --- Database -----------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if not env.str("DATABASE_URL", default=""):
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_VENDOR = "postgresql" if "postgres" in DATABASES["default"]["ENGINE"] else "sqlite"
# The same backends, wrapped by django-prometheus: queries, errors and connections per database.
DATABASES["default"]["ENGINE"] = {
    "postgresql": "django_prometheus.db.backends.postgresql",
    "sqlite": "django_prometheus.db.backends.sqlite3",
}[DATABASE_VENDOR]
if DATABASE_VENDOR == "postgresql":
    # psycopg 3's pool: one connection per request would cost more than the request.
    DATABASES["default"].setdefault("OPTIONS", {})
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=1),
            "max_size": env.int("DATABASE_POOL_MAX", default=10),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
else:
    DATABASES["default"].setdefault("OPTIONS", {})
    # Wait for SQLite's write lock instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=None)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ATOMIC_REQUESTS = False  # writes are atomic in services, not per request (docs/ARCHITECTURE.md)

# --- Redis: cache, channel layer, Celery broker, relay store, rate limits ----------------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="messenger")
# Channels' layers drop a channel from a group this long after it joined (their `group_expiry`,
# a day by default), so that a dead process's memberships do not live forever; a socket open
# longer joins its groups again every REALTIME_GROUP_REJOIN_SECONDS (a quarter of it), or it
# would silently stop getting its events after a day.
CHANNEL_LAYER_GROUP_EXPIRY_SECONDS = env.int("CHANNEL_LAYER_GROUP_EXPIRY_SECONDS", default=86400)
REALTIME_GROUP_REJOIN_SECONDS = env.float(
    "REALTIME_GROUP_REJOIN_SECONDS", default=CHANNEL_LAYER_GROUP_EXPIRY_SECONDS / 4
)
if REALTIME_GROUP_REJOIN_SECONDS >= CHANNEL_LAYER_GROUP_EXPIRY_SECONDS:
    raise ImproperlyConfigured(
        "REALTIME_GROUP_REJOIN_SECONDS must be under CHANNEL_LAYER_GROUP_EXPIRY_SECONDS."
    )
# With the Redis layer each process registers a fingerprint of its shard list on REDIS_URL when its
# readiness is probed; one that differs from the running processes' is not ready
# (core/layer_shards.py). A fingerprint not registered for this long is forgotten
# (probes come every few seconds).
CHANNEL_LAYER_SHARDS_WINDOW_SECONDS = env.float("CHANNEL_LAYER_SHARDS_WINDOW_SECONDS", default=60)
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's own Redis cache, plus django-prometheus's get/hit/miss counters.
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    # redis is pinned below 8 (requirements.txt): redis-py 8's defaults break channels_redis 4.3
    # (django/channels_redis#422; bench/ws_sockets.py and test_cross_process.py found it): a 5 s
    # socket timeout cuts the layer's own 5 s blocking read (BZPOPMIN), closing one idle socket
    # per process every 5 s (1011). The socket timeout stays for an operator who must run
    # redis-py 8 (above 5 s); unset, none. The layer's pool is a blocking one of
    # CHANNEL_LAYER_MAX_CONNECTIONS (default 50) per process and shard (core/
    # channel_layer.py): a burst waits for a connection instead of opening one per socket.
    _channel_host_options: dict = {}
    if env.str("CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS", default=""):
        _channel_host_options["socket_timeout"] = env.float("CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS")
    if env.str("CHANNEL_LAYER_MAX_CONNECTIONS", default=""):
        _channel_host_options["max_connections"] = env.int("CHANNEL_LAYER_MAX_CONNECTIONS")
    # The channel layer alone may be sharded over several Redis instances: it carries every event
    # to every socket, the traffic that grows with sockets and processes. channels_redis shards
    # by itself (a CRC32 of the name, modulo the number of hosts): a group's member set lives on
    # the shard of the group's name, each process's inbox on the shard of its channel prefix. So
    # every process (ASGI servers, REST workers, Celery workers: all publish) must list the same
    # URLs in the same order, and changing the list moves groups: roll it out with every process
    # restarted (sockets reconnect and /sync). The cache, tickets, throttles, presence, relay and
    # Celery stay on REDIS_URL: their operations (Lua scripts over a user's keys, one counter per
    # limit, one denylist) need a single authority, and their load does not grow per socket.
    CHANNEL_LAYER_REDIS_URLS = [
        url.strip() for url in env.list("CHANNEL_LAYER_REDIS_URLS", default=[]) if url.strip()
    ] or [REDIS_URL]
    if len(set(CHANNEL_LAYER_REDIS_URLS)) != len(CHANNEL_LAYER_REDIS_URLS):
        # One instance twice would still work, but weighs it double: surely a typo.
        raise ImproperlyConfigured("CHANNEL_LAYER_REDIS_URLS lists the same URL twice.")
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "core.channel_layer.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, **_channel_host_options} for url in CHANNEL_LAYER_REDIS_URLS],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="messenger:asgi"),
                "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=1000),
                "expiry": 60,
                "group_expiry": CHANNEL_LAYER_GROUP_EXPIRY_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "core.cache.LocMemCache"}}  # + get/hit/miss counters
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"group_expiry": CHANNEL_LAYER_GROUP_EXPIRY_SECONDS},
        }
    }
    if env.str("CHANNEL_LAYER_REDIS_URLS", default=""):
        # Shards without REDIS_URL would still leave tickets and presence in each process's memory.
        raise ImproperlyConfigured("CHANNEL_LAYER_REDIS_URLS needs REDIS_URL (the cache, tickets, presence).")

# --- Celery -------------------------------------------------------------------------------------
# "memory://localhost/" rather than "memory://": without a host kombu warns on every publish.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
# No broker configured: run tasks in-process, so the embedded mode needs no worker.
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=not (REDIS_URL or env.str("CELERY_BROKER_URL", default=""))
)
CELERY_TASK_EAGER_PROPAGATES = True
# The queue tasks go to and workers read: several deployments (or test runs) can share one Redis.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# What tasks print (the console email backend's messages, in development) goes to the worker's
# stdout as is: through logging it would become JSON lines and lose its links to redaction.
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish to an unreachable broker must fail fast (the outbox re-dispatches later), not hang.
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE: dict = {}  # each app adds its periodic tasks below, in its own section
# notifications: the outbox's safety net and its retention
CELERY_BEAT_SCHEDULE["notifications-redispatch-overdue-emails"] = {
    "task": "notifications.redispatch_overdue_emails",
    "schedule": env.float("EMAIL_OUTBOX_REDISPATCH_EVERY_SECONDS", default=60.0),
}
CELERY_BEAT_SCHEDULE["notifications-purge-sent-emails"] = {
    "task": "notifications.purge_sent_emails",
    "schedule": 6 * 3600.0,
}
# contacts
CELERY_BEAT_SCHEDULE["contacts-expire-invitations"] = {
    "task": "contacts.expire_invitations",
    "schedule": env.float("INVITATION_EXPIRE_EVERY_SECONDS", default=3600.0),
}

# --- Storage ------------------------------------------------------------------------------------
S3_BUCKET = env.str("S3_BUCKET", default="")
MEDIA_ROOT = VAR_DIR / "media"
WHITENOISE_USE_FINDERS = DEBUG  # `make run` serves assets without collectstatic
# whitenoise answers with a file iterator, which Django's ASGI handler reads in a thread and warns
# about on every static file under uvicorn. Harmless here (admin and Swagger UI assets, small);
# production serves REST and static files under gunicorn (WSGI, deploy/), where it does not apply.
warnings.filterwarnings(
    "ignore",
    message="StreamingHttpResponse must consume synchronous iterators",
    module="django.core.handlers.asgi",
)
MEDIA_URL = "/media-files/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_URL = "/static/"
if S3_BUCKET:
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config as BotocoreConfig

    STORAGES = {
        "default": {
            # django-storages' S3Storage; uploads spooled files by path (flat memory), presigns
            # for a public endpoint, probes for /readyz (see there).
            "BACKEND": "core.storage.S3Storage",
            "OPTIONS": {
                "bucket_name": S3_BUCKET,
                "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
                # Where clients reach the same storage, if not at S3_ENDPOINT_URL (MinIO behind
                # nginx: deploy/). Presigned URLs name this host.
                "public_endpoint_url": env.str("S3_PUBLIC_ENDPOINT_URL", default=None),
                "access_key": env.str("S3_ACCESS_KEY", default=None),
                "secret_key": env.str("S3_SECRET_KEY", default=None),
                "region_name": env.str("S3_REGION", default="us-east-1"),
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": env.int("MEDIA_URL_TTL_SECONDS", default=300),
                # Object keys are 192 random bits (media.storage.new_object_key): no HEAD per
                # save to look for a name clash that cannot happen.
                "file_overwrite": True,
                # Reads (the thumbnail task) spool past this to disk; 0 would hold whole objects.
                "max_memory_size": env.int("S3_MAX_MEMORY_SIZE", default=2 * 1024 * 1024),
                # Parts in flight per upload (boto3's default is 10 threads): each thread costs
                # memory (bench/upload_memory.py), and one S3/MinIO is saturated by a few.
                "transfer_config": TransferConfig(
                    max_concurrency=env.int("S3_UPLOAD_CONCURRENCY", default=4),
                    multipart_chunksize=8 * 1024 * 1024,
                ),
                # Path-style (MinIO), SigV4; a dead endpoint fails a request in seconds (3 retries,
                # 5 s to connect), not the minute-plus of botocore's defaults.
                "client_config": BotocoreConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                    connect_timeout=env.int("S3_CONNECT_TIMEOUT_SECONDS", default=5),
                    read_timeout=env.int("S3_READ_TIMEOUT_SECONDS", default=60),
                    retries={"mode": "standard", "max_attempts": 3},
                ),
            },
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }

# --- Email --------------------------------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
for _key in ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_FILE_PATH"):
    if _email.get(_key):
        globals()[_key] = _email[_key]
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Messenger <no-reply@localhost>")
# Where links in emails point (verification, invitations, reminders): the web client's origin.
# This server serves the web client (webclient/), so the default is the server's own address as
# `make run` serves it (HOST and PORT, which the Makefile passes on).
_PUBLIC_HOST = env.str("HOST", default="127.0.0.1")
if _PUBLIC_HOST in {"0.0.0.0", "::", ""}:  # noqa: S104 (listening on every interface: link to loopback)
    _PUBLIC_HOST = "127.0.0.1"
FRONTEND_URL = env.str("FRONTEND_URL", default=f"http://{_PUBLIC_HOST}:{env.int('PORT', default=8000)}")

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

REST_FRAMEWORK = {
    # simplejwt's JWTAuthentication plus the logout denylist and the active-user check.
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.AccessTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.SafeJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 50,
    # Per-IP throttles (login, registration) key on the client address. 0: REMOTE_ADDR, and a
    # client's own X-Forwarded-For is ignored (else each forged value is a fresh bucket). Behind
    # N trusted proxies that append to X-Forwarded-For (deploy/'s nginx: 1), set NUM_PROXIES=N.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}
if not DEBUG and len(SIMPLE_JWT["SIGNING_KEY"]) < SECRET_KEY_MIN_LENGTH:
    raise ImproperlyConfigured(
        f"Refusing to start with DEBUG off: JWT_SIGNING_KEY, when set, needs {SECRET_KEY_MIN_LENGTH}+ characters."
    )

# Rates for core.throttling classes, read at request time so tests and operators can
# change them without a restart of the class cache. Format: "<count>/<second|minute|hour|day>"
# or "<count>/<n><s|m|h|d>" (e.g. "5/30m").
THROTTLE_RATES = {
    "login_ip": env.str("THROTTLE_LOGIN_IP", default="30/30m"),
    "login_account": env.str("THROTTLE_LOGIN_ACCOUNT", default="5/30m"),
    "register_ip": env.str("THROTTLE_REGISTER_IP", default="10/h"),
    "register_account": env.str("THROTTLE_REGISTER_ACCOUNT", default="5/30m"),
    # accounts: prekey bundles one caller may claim from one user (each claim spends a one-time
    # prekey; a session needs one, so this only stops a caller draining someone's prekeys)
    "keys_claim": env.str("THROTTLE_KEYS_CLAIM", default="30/h"),
    # accounts: GET/PUT/DELETE /keys/backup per user (a device restores once; a client rewrites
    # it when its keys change)
    "keys_backup": env.str("THROTTLE_KEYS_BACKUP", default="60/h"),
    # accounts: GET /users/search per user, and (on top) its exact-email lookups, which tell
    # whether an address has an account
    "user_search": env.str("THROTTLE_USER_SEARCH", default="60/m"),
    "user_search_email": env.str("THROTTLE_USER_SEARCH_EMAIL", default="20/h"),
    # One-time prekeys handed out per target, all callers together; past it the bundle comes
    # without one (not a 429: nobody can lock others out of reaching the target).
    "keys_claim_target": env.str("THROTTLE_KEYS_CLAIM_TARGET", default="60/h"),
    "user_default": env.str("THROTTLE_USER_DEFAULT", default="6000/m"),
    # messaging: per sender, REST sends (a spam brake well above any human's pace)
    "message_send": env.str("THROTTLE_MESSAGE_SEND", default="1200/m"),
    # contacts: the per-user daily cap on invitation emails (POST /invitations/send)
    "invitation_send": env.str("THROTTLE_INVITATION_SEND", default="20/d"),
    # contacts: POST /contacts per user (each request reaches a stranger: a spam brake)
    "contact_request": env.str("THROTTLE_CONTACT_REQUESTS", default="30/h"),
    # realtime: WebSocket tickets per user (a reconnecting client needs one per attempt)
    "ws_ticket": env.str("THROTTLE_WS_TICKET", default="60/m"),
    # realtime: GET /presence per user
    "presence": env.str("THROTTLE_PRESENCE", default="120/m"),
    # realtime: `typing` frames per user, across all their sockets and processes
    "typing": env.str("THROTTLE_TYPING", default="60/m"),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Messenger API",
    "DESCRIPTION": (
        "End-to-end-encrypted messaging: the server stores and routes ciphertext. The contract, "
        "with the WebSocket frames, close codes and limits this schema cannot express: docs/API.md "
        "in the repository; the architecture: docs/ARCHITECTURE.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Every PATCH view validates its serializer whole (no partial=True): its required fields are
    # required in the schema too, not dropped into an all-optional "Patched" copy.
    "COMPONENT_SPLIT_PATCH": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["core.schema.drop_trailing_slash_twins"],
}

# --- Limits, TTLs, caps (each app reads its own; defaults from docs/API.md) -------------------
# accounts
ACCOUNTS_VERIFY_EMAIL_TTL_SECONDS = env.int("ACCOUNTS_VERIFY_EMAIL_TTL_SECONDS", default=3 * 24 * 3600)
ACCOUNTS_MAX_ONE_TIME_PREKEYS = env.int("ACCOUNTS_MAX_ONE_TIME_PREKEYS", default=200)
# The key backup (PUT /keys/backup): its encrypted blob, at most this many bytes decoded (a few
# private keys and their metadata need a few KiB).
ACCOUNTS_KEY_BACKUP_MAX_BYTES = env.int("ACCOUNTS_KEY_BACKUP_MAX_BYTES", default=64 * 1024)
# An account whose address is still unverified this many hours after registration is deleted
# (through the account-deletion service, every app cleaning up), freeing the address for its
# owner: whoever typed it first cannot hold it. 0 turns the purge off. Never shorter than the
# verification link's lifetime: the link must die before its account does.
UNVERIFIED_ACCOUNT_TTL_HOURS = env.int(
    "UNVERIFIED_ACCOUNT_TTL_HOURS", default=max(72, -(-ACCOUNTS_VERIFY_EMAIL_TTL_SECONDS // 3600))
)
if 0 < UNVERIFIED_ACCOUNT_TTL_HOURS * 3600 < ACCOUNTS_VERIFY_EMAIL_TTL_SECONDS:
    raise ImproperlyConfigured(
        "UNVERIFIED_ACCOUNT_TTL_HOURS must cover ACCOUNTS_VERIFY_EMAIL_TTL_SECONDS (or be 0: no purge)."
    )
CELERY_BEAT_SCHEDULE["accounts-purge-unverified"] = {
    "task": "accounts.purge_unverified_accounts",
    "schedule": env.float("UNVERIFIED_ACCOUNT_PURGE_EVERY_SECONDS", default=3600.0),
}
# A claim leaving fewer one-time prekeys than this sends the owner `keys.low` (once per crossing):
# time to upload more. Signal's clients refill below 10 too.
ACCOUNTS_PREKEYS_LOW_THRESHOLD = env.int("ACCOUNTS_PREKEYS_LOW_THRESHOLD", default=10)
# messaging
MESSAGE_MAX_CIPHERTEXT_BYTES = env.int("MESSAGE_MAX_CIPHERTEXT_BYTES", default=64 * 1024)
MESSAGE_MAX_KEY_BYTES = env.int("MESSAGE_MAX_KEY_BYTES", default=4 * 1024)
# The "you have unread messages" email: how long a message stays unread (with its recipient not
# online since) before it is announced (0 turns the email off), and the least time between two.
MESSAGING_UNREAD_EMAIL_DELAY_SECONDS = env.int("MESSAGING_UNREAD_EMAIL_DELAY_SECONDS", default=15 * 60)
MESSAGING_UNREAD_EMAIL_MIN_INTERVAL_SECONDS = env.int(
    "MESSAGING_UNREAD_EMAIL_MIN_INTERVAL_SECONDS", default=6 * 3600
)
# groups
GROUP_MAX_MEMBERS = env.int("GROUP_MAX_MEMBERS", default=1000)
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "GroupRoleEnum": "groups.models.GroupRole",
        "AssignableGroupRoleEnum": "groups.models.ASSIGNABLE_ROLE_CHOICES",
    }
)
# media
MEDIA_MAX_UPLOAD_BYTES = env.int("MEDIA_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
MEDIA_URL_TTL_SECONDS = env.int("MEDIA_URL_TTL_SECONDS", default=300)
MEDIA_MAX_THUMBNAIL_BYTES = env.int("MEDIA_MAX_THUMBNAIL_BYTES", default=1024 * 1024)
# Direct-to-storage uploads (S3 mode): how long the presigned PUT stays valid. S3 checks it when
# the PUT starts, so a slow upload that started in time finishes.
MEDIA_DIRECT_UPLOAD_URL_TTL_SECONDS = env.int("MEDIA_DIRECT_UPLOAD_URL_TTL_SECONDS", default=3600)
# Thumbnails: images whose header claims more pixels than this are refused undecoded (bombs).
MEDIA_THUMBNAIL_MAX_PIXELS = env.int("MEDIA_THUMBNAIL_MAX_PIXELS", default=40_000_000)
MEDIA_THUMBNAIL_MAX_SIDE = env.int("MEDIA_THUMBNAIL_MAX_SIDE", default=320)
# Uploads never attached to a message are purged after this long (media.tasks.purge_unattached_media).
MEDIA_UNATTACHED_TTL_SECONDS = env.int("MEDIA_UNATTACHED_TTL_SECONDS", default=24 * 3600)
CELERY_BEAT_SCHEDULE["media-purge-unattached"] = {
    "task": "media.tasks.purge_unattached_media",
    "schedule": env.int("MEDIA_PURGE_INTERVAL_SECONDS", default=3600),
}
# A thumbnail still pending this long after upload lost its task (broker down): it gets another.
MEDIA_THUMBNAIL_REDISPATCH_AFTER_SECONDS = env.int("MEDIA_THUMBNAIL_REDISPATCH_AFTER_SECONDS", default=600)
CELERY_BEAT_SCHEDULE["media-redispatch-stale-thumbnails"] = {
    "task": "media.tasks.redispatch_stale_thumbnails",
    "schedule": float(MEDIA_THUMBNAIL_REDISPATCH_AFTER_SECONDS),
}
# relay
RELAY_DEFAULT_TTL_SECONDS = env.int("RELAY_DEFAULT_TTL_SECONDS", default=7 * 24 * 3600)
RELAY_MAX_TTL_SECONDS = env.int("RELAY_MAX_TTL_SECONDS", default=30 * 24 * 3600)
RELAY_MAX_PAYLOAD_BYTES = env.int("RELAY_MAX_PAYLOAD_BYTES", default=64 * 1024)
RELAY_MAX_PENDING_PER_RECIPIENT = env.int("RELAY_MAX_PENDING_PER_RECIPIENT", default=10_000)
# One sender's share of a recipient's queue: past it that sender gets 429 relay_queue_full while
# others still queue, so no single account can fill a queue (relay package docstring).
RELAY_MAX_PENDING_PER_SENDER = env.int("RELAY_MAX_PENDING_PER_SENDER", default=1_000)
# A full queue answers 429 with Retry-After = seconds until its oldest envelope expires, at most this
# (an ack by the recipient frees a slot sooner). See the relay package docstring.
RELAY_QUEUE_FULL_RETRY_AFTER_MAX_SECONDS = env.int("RELAY_QUEUE_FULL_RETRY_AFTER_MAX_SECONDS", default=3600)
# The store: Redis when REDIS_URL is set, else the database table (the embedded mode).
RELAY_STORE = env.str("RELAY_STORE", default="redis" if REDIS_URL else "database")
RELAY_REDIS_URL = env.str("RELAY_REDIS_URL", default=REDIS_URL)
RELAY_REDIS_PREFIX = env.str("RELAY_REDIS_PREFIX", default="relay")
RELAY_REDIS_TIMEOUT_SECONDS = env.float("RELAY_REDIS_TIMEOUT_SECONDS", default=2.0)
if RELAY_STORE not in {"redis", "database"}:
    raise ImproperlyConfigured(f"RELAY_STORE must be 'redis' or 'database', not {RELAY_STORE!r}.")
if RELAY_STORE == "redis" and not RELAY_REDIS_URL:
    raise ImproperlyConfigured("RELAY_STORE=redis needs REDIS_URL (or RELAY_REDIS_URL).")
CELERY_BEAT_SCHEDULE["relay-purge-expired"] = {
    "task": "relay.purge_expired",
    "schedule": env.float("RELAY_PURGE_EVERY_SECONDS", default=300.0),
}
# Per sender, POST /relay/queue (a brake on flooding; the per-recipient cap bounds the damage).
THROTTLE_RATES["relay_queue"] = env.str("THROTTLE_RELAY_QUEUE", default="1200/m")
# realtime: presence (presence/services.py). Each socket refreshes its entry every
# REALTIME_PRESENCE_HEARTBEAT_SECONDS; one not refreshed for REALTIME_PRESENCE_TTL_SECONDS (three
# heartbeats) belongs to a process that died, and the sweep declares its user offline. last_seen
# is written at most once per REALTIME_LAST_SEEN_WRITE_SECONDS while online, and on going offline.
REALTIME_PRESENCE_HEARTBEAT_SECONDS = env.float("REALTIME_PRESENCE_HEARTBEAT_SECONDS", default=20.0)
REALTIME_PRESENCE_TTL_SECONDS = env.float("REALTIME_PRESENCE_TTL_SECONDS", default=60.0)
REALTIME_LAST_SEEN_WRITE_SECONDS = env.float("REALTIME_LAST_SEEN_WRITE_SECONDS", default=60.0)
REALTIME_PRESENCE_REDIS_PREFIX = env.str("REALTIME_PRESENCE_REDIS_PREFIX", default="presence")
REALTIME_PRESENCE_REDIS_TIMEOUT_SECONDS = env.float("REALTIME_PRESENCE_REDIS_TIMEOUT_SECONDS", default=2.0)
if REALTIME_PRESENCE_TTL_SECONDS <= REALTIME_PRESENCE_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "REALTIME_PRESENCE_TTL_SECONDS must exceed REALTIME_PRESENCE_HEARTBEAT_SECONDS (about three heartbeats)."
    )
CELERY_BEAT_SCHEDULE["presence-sweep"] = {
    "task": "presence.sweep",
    "schedule": env.float("REALTIME_PRESENCE_SWEEP_EVERY_SECONDS", default=30.0),
}
# contacts
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)
# notifications (the email outbox)
EMAIL_OUTBOX_MAX_ATTEMPTS = env.int("EMAIL_OUTBOX_MAX_ATTEMPTS", default=5)
EMAIL_OUTBOX_RETRY_BASE_SECONDS = env.int("EMAIL_OUTBOX_RETRY_BASE_SECONDS", default=30)
EMAIL_OUTBOX_RETRY_MAX_SECONDS = env.int("EMAIL_OUTBOX_RETRY_MAX_SECONDS", default=3600)
# A pending email whose attempt is overdue by this much was lost on the way to a worker.
EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS = env.int("EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS", default=300)
EMAIL_OUTBOX_RETENTION_DAYS = env.int("EMAIL_OUTBOX_RETENTION_DAYS", default=7)

# --- Metrics (core/metrics.py; README "Operations") ---------------------------------
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

# HTTP under an ASGI server (uvicorn: `make run`; the sockets' servers of deploy/): Django's WSGI
# handler on this many threads per process (core.threaded_http), as gunicorn's gthread
# workers run it (deploy/: 8). Django's own ASGI handler runs synchronous views one at a time per
# process; 0 puts it back. Keep it under DATABASE_POOL_MAX (10): a thread holds a connection while
# its request runs.
ASGI_HTTP_THREADS = env.int("ASGI_HTTP_THREADS", default=8)

# Request bodies (core.bodylimit): past its route's limit a body is refused with 413
# before it is read, under uvicorn, daphne and gunicorn alike (a declared Content-Length at once, a
# chunked body at the limit). Every route but the upload takes JSON, the largest being a group
# message at its caps: GROUP_MAX_MEMBERS wrapped keys of MESSAGE_MAX_KEY_BYTES plus a ciphertext of
# MESSAGE_MAX_CIPHERTEXT_BYTES, base64 (4/3), with the keys' user ids, quotes and the other fields.


def _base64_length(size: int) -> int:
    return 4 * -(-size // 3)


API_MAX_BODY_BYTES = env.int(
    "API_MAX_BODY_BYTES",
    default=GROUP_MAX_MEMBERS * (_base64_length(MESSAGE_MAX_KEY_BYTES) + 48)
    + _base64_length(MESSAGE_MAX_CIPHERTEXT_BYTES)
    + 64 * 1024,
)
# The upload: both files at their caps plus the multipart framing (media.uploads' 64 KiB).
API_BODY_LIMIT_ROUTES = {
    "/api/v1/media/upload": (
        MEDIA_MAX_UPLOAD_BYTES + MEDIA_MAX_THUMBNAIL_BYTES + 64 * 1024,
        "media_too_large",
    ),
}
# Routes whose body is read only after a Bearer access token verifies (signature, expiry, type).
API_BEARER_BEFORE_BODY_ROUTES = {"/api/v1/media/upload"}
# Django's own check when a view reads a JSON body: the same limit, so a body the entry point let
# through is never refused later.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=API_MAX_BODY_BYTES)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# LOG_FORMAT: json (one object a line, for a log pipeline) or text (readable); json by default
# in real mode (REDIS_URL or a database URL set), text in the embedded mode. Every line carries
# the request id, user id and socket ids in context and is redacted (core/logging.py).
LOG_FORMAT = env.str(
    "LOG_FORMAT", default="json" if (REDIS_URL or env.str("DATABASE_URL", default="")) else "text"
)
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
