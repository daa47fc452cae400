"""Celery, and the whole beat schedule: every app's periodic task, in one place."""

from messenger.settings.environment import REDIS_URL, env
from messenger.settings.limits import MEDIA_THUMBNAIL_REDISPATCH_AFTER_SECONDS

# "memory://localhost/" rather than "memory://": without a host kombu warns on every publish.
_configured_broker_url = env.str("CELERY_BROKER_URL", default=None)
CELERY_BROKER_URL = (
    _configured_broker_url if _configured_broker_url is not None else REDIS_URL or "memory://localhost/"
)
# No broker configured: run tasks in-process, so the embedded mode needs no worker.
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=not (REDIS_URL or _configured_broker_url)
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

# Every app's periodic tasks (celery beat), each interval read from its own variable.
CELERY_BEAT_SCHEDULE = {
    # notifications: the outbox's safety net and its retention
    "notifications-redispatch-overdue-emails": {
        "task": "notifications.redispatch_overdue_emails",
        "schedule": env.float("EMAIL_OUTBOX_REDISPATCH_EVERY_SECONDS", default=60.0),
    },
    "notifications-purge-sent-emails": {
        "task": "notifications.purge_sent_emails",
        "schedule": 6 * 3600.0,
    },
    "contacts-expire-invitations": {
        "task": "contacts.expire_invitations",
        "schedule": env.float("INVITATION_EXPIRE_EVERY_SECONDS", default=3600.0),
    },
    # accounts: unverified accounts past UNVERIFIED_ACCOUNT_TTL_HOURS
    "accounts-purge-unverified": {
        "task": "accounts.purge_unverified_accounts",
        "schedule": env.float("UNVERIFIED_ACCOUNT_PURGE_EVERY_SECONDS", default=3600.0),
    },
    "media-purge-unattached": {
        "task": "media.tasks.purge_unattached_media",
        "schedule": env.int("MEDIA_PURGE_INTERVAL_SECONDS", default=3600),
    },
    # A stale thumbnail is looked for as often as one can become stale.
    "media-redispatch-stale-thumbnails": {
        "task": "media.tasks.redispatch_stale_thumbnails",
        "schedule": float(MEDIA_THUMBNAIL_REDISPATCH_AFTER_SECONDS),
    },
    "relay-purge-expired": {
        "task": "relay.purge_expired",
        "schedule": env.float("RELAY_PURGE_EVERY_SECONDS", default=300.0),
    },
    # presence: users whose every socket's entry expired (their process died) go offline
    "presence-sweep": {
        "task": "presence.sweep",
        "schedule": env.float("REALTIME_PRESENCE_SWEEP_EVERY_SECONDS", default=30.0),
    },
}
