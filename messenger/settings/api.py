"""The HTTP API: DRF, JWTs, every throttle rate, the OpenAPI schema, request body limits."""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from messenger.settings.base import SECRET_KEY, SECRET_KEY_MIN_LENGTH
from messenger.settings.environment import DEBUG, env
from messenger.settings.limits import (
    GROUP_MAX_MEMBERS,
    MEDIA_MAX_THUMBNAIL_BYTES,
    MEDIA_MAX_UPLOAD_BYTES,
    MESSAGE_MAX_CIPHERTEXT_BYTES,
    MESSAGE_MAX_KEY_BYTES,
)

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
    # relay: per sender, POST /relay/queue (a brake on flooding; the per-recipient cap bounds the
    # damage)
    "relay_queue": env.str("THROTTLE_RELAY_QUEUE", default="1200/m"),
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
    # groups' role enums, named once for every serializer that uses them
    "ENUM_NAME_OVERRIDES": {
        "GroupRoleEnum": "groups.models.GroupRole",
        "AssignableGroupRoleEnum": "groups.models.ASSIGNABLE_ROLE_CHOICES",
    },
}

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
