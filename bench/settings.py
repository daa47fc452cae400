"""Settings of the benchmark's servers (bench/run.py): production's, read from the same
environment, plus the floor app and its routes, with the rate limits lifted.

Never used by production: only the harness sets DJANGO_SETTINGS_MODULE=bench.settings.
"""

from messenger.settings import *  # noqa: F403
from messenger.settings import INSTALLED_APPS as _PRODUCTION_APPS
from messenger.settings import THROTTLE_RATES as _PRODUCTION_RATES

INSTALLED_APPS = [*_PRODUCTION_APPS, "bench.floor"]
ROOT_URLCONF = "bench.urls"

# Lifted, not removed: every throttle still counts in Redis as in production (its cost is part of
# each figure), but none can refuse. Per second, so that DRF's per-key history of request times
# (read and written whole on each request) stays a few entries long instead of a minute's worth.
THROTTLE_RATES = dict.fromkeys(_PRODUCTION_RATES, "1000000/s")

# The Celery broker: tasks are published as production publishes them (to REDIS_URL), under the
# run's own key prefix, so that no worker of anyone else's consumes them (none of the run's does
# either: the harness deletes the keys at the end).
if env.str("BENCH_CELERY_KEY_PREFIX", default=""):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
        "global_keyprefix": env.str("BENCH_CELERY_KEY_PREFIX"),  # noqa: F405
    }
