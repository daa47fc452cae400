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

One module per concern, each reading its own variables once through `environment.env`; a later
module imports what it needs from an earlier one, never reads the same variable again:

- environment: the values several concerns share (DEBUG, DATABASE_URL, REDIS_URL, VAR_DIR)
- base: Django itself (secret key and its guard, hosts, apps, middleware, auth, security, i18n)
- database, redis (cache and channel layer), storage, email
- limits: each app's limits, TTLs and caps (RELAY_STORE validated here, once)
- realtime: the WebSocket gateway and presence
- api: DRF, JWT, every throttle rate, the schema, request body limits
- tasks: Celery and the whole beat schedule
- observability: metrics and logging
"""

from messenger.settings.api import *  # noqa: F403
from messenger.settings.base import *  # noqa: F403
from messenger.settings.database import *  # noqa: F403
from messenger.settings.email import *  # noqa: F403
from messenger.settings.environment import *  # noqa: F403
from messenger.settings.limits import *  # noqa: F403
from messenger.settings.observability import *  # noqa: F403
from messenger.settings.realtime import *  # noqa: F403
from messenger.settings.redis import *  # noqa: F403
from messenger.settings.storage import *  # noqa: F403
from messenger.settings.tasks import *  # noqa: F403
