"""Each app's limits, TTLs and caps (each app reads its own; defaults from docs/API.md)."""

from django.core.exceptions import ImproperlyConfigured

from messenger.settings.environment import REDIS_URL, env

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
# A thumbnail still pending this long after upload lost its task (broker down): it gets another.
MEDIA_THUMBNAIL_REDISPATCH_AFTER_SECONDS = env.int("MEDIA_THUMBNAIL_REDISPATCH_AFTER_SECONDS", default=600)
# relay (its store, RELAY_STORE, is validated here once: relay.store trusts it)
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
# contacts
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)
# notifications (the email outbox)
EMAIL_OUTBOX_MAX_ATTEMPTS = env.int("EMAIL_OUTBOX_MAX_ATTEMPTS", default=5)
EMAIL_OUTBOX_RETRY_BASE_SECONDS = env.int("EMAIL_OUTBOX_RETRY_BASE_SECONDS", default=30)
EMAIL_OUTBOX_RETRY_MAX_SECONDS = env.int("EMAIL_OUTBOX_RETRY_MAX_SECONDS", default=3600)
# A pending email whose attempt is overdue by this much was lost on the way to a worker.
EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS = env.int("EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS", default=300)
EMAIL_OUTBOX_RETENTION_DAYS = env.int("EMAIL_OUTBOX_RETENTION_DAYS", default=7)
