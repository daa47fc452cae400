"""TTLs for real (a 1-second envelope is gone 2 seconds later), and the periodic purge of the
index entries and rows of expired envelopes. Both stores, unless a test is about Redis keys."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings

from messenger.celery import app
from relay.models import Envelope
from relay.selectors import envelopes_pending, envelopes_pending_count
from relay.services import envelope_queue
from relay.store import RedisStore, to_microseconds
from relay.tasks import purge_expired

pytestmark = pytest.mark.django_db


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def wait_until(moment: datetime) -> None:
    """Sleep until the wall clock has passed `moment` (the expiry is what is tested, not speed)."""
    while (remaining := (moment - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(remaining + 0.01, 0.5))


@pytest.mark.usefixtures("relay_store")
def test_a_one_second_envelope_is_gone_two_seconds_later(
    queue, pending, client_for, user, other_user, settings
):
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 1
    body = queue(user, other_user, b"short-lived", ttl_seconds=1).json()
    created, expires = parse(body["created_at"]), parse(body["expires_at"])
    assert expires - created == timedelta(seconds=1)

    # While it lives it is listed and holds the only slot. (Each check is made only if it was
    # answered before the expiry: a very slow machine may have spent the second already.)
    listed = [item["id"] for item in pending(other_user)["results"]]
    if datetime.now(UTC) < expires:
        assert listed == [body["id"]]
    refused = queue(user, other_user, expect=None)
    if datetime.now(UTC) < expires:
        assert refused.status_code == 429
    elif refused.status_code == 201:  # it came after the expiry: out of the way
        client_for(other_user).delete(f"/api/v1/relay/{refused.json()['id']}")

    wait_until(created + timedelta(seconds=2))
    assert pending(other_user)["results"] == []
    assert envelopes_pending_count(recipient_id=other_user.pk) == 0
    ack = client_for(other_user).delete(f"/api/v1/relay/{body['id']}")
    assert ack.status_code == 404 and ack.json()["code"] == "envelope_not_found"
    queue(user, other_user, b"the slot is free again")  # an expired envelope does not count


@pytest.mark.usefixtures("relay_store")
def test_acking_an_expired_envelope_nobody_listed_since_is_404(queue, client_for, user, other_user):
    """The ack itself refuses an expired envelope, even one still in the index because no read
    or purge has trimmed it yet (Redis: its expiry entry outlives its payload key while the
    queue holds a longer-lived envelope, which keeps the index keys alive)."""
    queue(user, other_user, b"lives on", ttl_seconds=3600)
    body = queue(user, other_user, b"expires unread", ttl_seconds=1).json()
    wait_until(parse(body["expires_at"]) + timedelta(milliseconds=50))
    ack = client_for(other_user).delete(f"/api/v1/relay/{body['id']}")
    assert ack.status_code == 404 and ack.json()["code"] == "envelope_not_found"


@pytest.mark.usefixtures("relay_store")
def test_an_expired_envelope_is_never_returned_among_live_ones(user, other_user):
    short = envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"short", ttl_seconds=1)
    long = envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"long", ttl_seconds=600)
    wait_until(short.expires_at + timedelta(milliseconds=100))
    assert envelopes_pending(recipient_id=other_user.pk) == [long]


def test_the_purge_is_a_beat_task():
    entry = settings.CELERY_BEAT_SCHEDULE["relay-purge-expired"]
    assert entry["task"] == "relay.purge_expired" == purge_expired.name
    assert entry["schedule"] > 0
    assert "relay.purge_expired" in app.tasks  # registered under the name beat sends


def _queue_mix(user, ann, bob):
    """Two 1-second envelopes and one long one for ann, one 1-second envelope for bob."""
    doomed = [
        envelope_queue(sender_id=user.pk, recipient_id=ann.pk, payload=b"a1", ttl_seconds=1),
        envelope_queue(sender_id=user.pk, recipient_id=ann.pk, payload=b"a2", ttl_seconds=1),
        envelope_queue(sender_id=user.pk, recipient_id=bob.pk, payload=b"b1", ttl_seconds=1),
    ]
    survivor = envelope_queue(sender_id=user.pk, recipient_id=ann.pk, payload=b"a3", ttl_seconds=600)
    wait_until(max(e.expires_at for e in doomed) + timedelta(milliseconds=100))
    return doomed, survivor


@pytest.mark.parametrize("relay_store", ["database"], indirect=True)
def test_purge_deletes_expired_rows_only(relay_store, user, make_user):
    ann, bob = make_user(), make_user()
    _, survivor = _queue_mix(user, ann, bob)
    assert Envelope.objects.count() == 4  # nothing has looked at the queues: the rows are there

    assert purge_expired.delay().get() == 3
    assert list(Envelope.objects.values_list("id", flat=True)) == [survivor.id]
    assert purge_expired.delay().get() == 0


@pytest.mark.parametrize("relay_store", ["redis"], indirect=True)
def test_purge_removes_expired_index_entries_from_redis(redis_store: RedisStore, user, make_user):
    ann, bob = make_user(), make_user()
    doomed, survivor = _queue_mix(user, ann, bob)
    client = redis_store.client
    # Redis expired the payloads by itself; their index entries are still there.
    for envelope in doomed:
        assert not client.exists(redis_store.payload_key(envelope.recipient_id, envelope.id))
    assert client.zcard(redis_store.queue_key(ann.pk, "order")) == 3
    assert client.zcard(redis_store.queue_key(ann.pk, "expiry")) == 3
    # bob's index keys expired with his last envelope, by themselves; the due index still names him.
    assert not client.exists(redis_store.queue_key(bob.pk, "order"), redis_store.queue_key(bob.pk, "expiry"))
    assert client.zscore(redis_store.due_key, str(bob.pk)) is not None

    assert purge_expired.delay().get() == 2  # ann's two; bob's went by themselves

    for part in ("order", "expiry"):
        assert client.zrange(redis_store.queue_key(ann.pk, part), 0, -1) == [str(survivor.id).encode()]
        assert not client.exists(redis_store.queue_key(bob.pk, part))
    # The due index now points at ann's next expiry only.
    due = client.zrange(redis_store.due_key, 0, -1, withscores=True)
    assert due == [(str(ann.pk).encode(), float(to_microseconds(survivor.expires_at)))]
    assert purge_expired.delay().get() == 0
    assert envelopes_pending(recipient_id=ann.pk) == [survivor]


@pytest.mark.parametrize("relay_store", ["redis"], indirect=True)
def test_redis_keys_carry_their_own_ttls(redis_store: RedisStore, user, other_user):
    envelope = envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"x", ttl_seconds=300)
    client: Any = redis_store.client  # redis-py types a sync client's answers as `Awaitable | Any`
    payload_ttl = client.pttl(redis_store.payload_key(other_user.pk, envelope.id))
    assert 250_000 < payload_ttl <= 300_001  # ms, rounded up
    # The index keys expire with their last envelope: an abandoned queue vanishes by itself.
    for part in ("order", "expiry"):
        assert 250_000 < client.pttl(redis_store.queue_key(other_user.pk, part)) <= 300_001
    assert client.hget(redis_store.payload_key(other_user.pk, envelope.id), "p") == b"x"


@pytest.mark.parametrize("relay_store", ["redis"], indirect=True)
def test_an_index_entry_whose_payload_vanished_is_skipped_and_repaired(
    redis_store: RedisStore, user, other_user
):
    first, second, third = (
        envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=f"{n}".encode())
        for n in range(3)
    )
    # As if Redis had evicted it under memory pressure.
    redis_store.client.delete(redis_store.payload_key(other_user.pk, first.id))

    assert envelopes_pending(recipient_id=other_user.pk, limit=2) == [second, third]  # still a full page
    assert redis_store.client.zcard(redis_store.queue_key(other_user.pk, "order")) == 2
    assert envelopes_pending_count(recipient_id=other_user.pk) == 2


@pytest.mark.parametrize("relay_store", ["redis"], indirect=True)
def test_a_retried_queue_script_stores_the_envelope_once(redis_store: RedisStore, user, other_user):
    """The client retries a script whose reply was lost: the second run answers the first outcome."""
    envelope_id = uuid.uuid4()
    arguments = {"envelope_id": envelope_id, "sender_id": user.pk, "recipient_id": other_user.pk}
    arguments |= {"payload": b"x", "ttl_seconds": 60}
    first = redis_store.queue(**arguments, max_pending=10)
    again = redis_store.queue(**arguments, max_pending=1)  # not refused by the cap either
    assert again == first
    assert envelopes_pending(recipient_id=other_user.pk) == [first]
