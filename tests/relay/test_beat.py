"""The purge as it runs in production: beat schedules `relay.purge_expired` (its period shortened
to 1 s for the test) and a real `celery -A messenger worker` runs it against the Redis store.

Skipped in the embedded mode (no broker to run a worker against); CI's real mode runs it.
"""

from __future__ import annotations

import time

import pytest

from relay.selectors import envelopes_pending
from relay.services import envelope_queue
from relay.store import RedisStore, get_store
from tests.notifications.worker import skip_unless_real_services, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.real_celery, pytest.mark.django_db(transaction=True)]


def test_beat_and_a_real_worker_purge_expired_index_entries(make_user, tmp_path, settings):
    skip_unless_real_services()
    settings.RELAY_STORE = "redis"
    store = get_store()
    assert isinstance(store, RedisStore)
    sender, ann = make_user(), make_user()
    for n in range(2):
        envelope_queue(sender_id=sender.pk, recipient_id=ann.pk, payload=f"{n}".encode(), ttl_seconds=1)
    survivor = envelope_queue(sender_id=sender.pk, recipient_id=ann.pk, payload=b"stays", ttl_seconds=600)
    order = store.queue_key(ann.pk, "order")
    assert store.client.zcard(order) == 3

    worker_env = {
        "RELAY_STORE": "redis",
        "TEST_RELAY_REDIS_PREFIX": settings.RELAY_REDIS_PREFIX,
        "RELAY_PURGE_EVERY_SECONDS": "1",
    }
    for worker in start_worker(tmp_path, extra_env=worker_env):
        # Nothing reads ann's queue meanwhile: only the scheduled task can remove the entries.
        deadline = time.monotonic() + 60
        while store.client.zcard(order) != 1:
            assert time.monotonic() < deadline, f"the purge did not run:\n{worker.log()}"
            assert worker.process.poll() is None, worker.log()
            time.sleep(0.3)
        assert "relay.purge_expired" in worker.log()
    assert store.client.zrange(order, 0, -1) == [str(survivor.id).encode()]
    assert envelopes_pending(recipient_id=ann.pk) == [survivor]
    assert settings.CELERY_BEAT_SCHEDULE["relay-purge-expired"]["task"] == "relay.purge_expired"
