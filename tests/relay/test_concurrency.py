"""Many senders at once: 20 threads of 50 envelopes to one recipient. Nothing lost, nothing twice,
and the cap holds exactly under the race (queue-and-cap is one Lua script on Redis, one locked
transaction in the database store)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from relay.exceptions import RelayQueueFull
from relay.selectors import envelopes_pending, envelopes_pending_count
from relay.services import envelope_queue

pytestmark = pytest.mark.django_db(transaction=True)

THREADS, PER_THREAD = 20, 50


def queue_from_threads(senders, recipient) -> tuple[list, list]:
    """Every thread queues PER_THREAD envelopes; returns (queued envelopes, refusals)."""
    barrier = threading.Barrier(len(senders))
    queued, refused, crashed = [], [], []
    lock = threading.Lock()

    def run(thread_number: int, sender) -> None:
        try:
            barrier.wait(timeout=60)
            for n in range(PER_THREAD):
                payload = f"{thread_number}:{n}".encode()
                try:
                    envelope = envelope_queue(sender_id=sender.pk, recipient_id=recipient.pk, payload=payload)
                except RelayQueueFull as full:
                    with lock:
                        refused.append((payload, full.retry_after))
                else:
                    with lock:
                        queued.append(envelope)
                finally:
                    # As at the end of a request: the connection goes back to the pool (10 of
                    # them for 20 threads).
                    connection.close()
        except Exception as exc:  # reported below, with the thread it came from
            with lock:
                crashed.append((thread_number, repr(exc)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a queueing thread hung"
    assert crashed == []
    return queued, refused


def store_params():
    return [
        "redis",
        pytest.param(
            "database",
            marks=pytest.mark.skipif(
                connection.vendor != "postgresql",
                reason="threads writing at once need PostgreSQL (SQLite serialises them anyway)",
            ),
        ),
    ]


@pytest.mark.parametrize("relay_store", ["redis"], indirect=True)
def test_twenty_threads_of_fifty_on_redis_lose_nothing_and_duplicate_nothing(relay_store, make_user):
    recipient = make_user()
    senders = [make_user() for _ in range(THREADS)]

    queued, refused = queue_from_threads(senders, recipient)
    assert refused == [] and len(queued) == 1000

    pending = envelopes_pending(recipient_id=recipient.pk)
    assert len(pending) == 1000
    assert len({e.id for e in pending}) == 1000  # none twice
    assert {e.id for e in pending} == {e.id for e in queued}  # none lost
    payloads = Counter(e.payload for e in pending)
    assert set(payloads.values()) == {1}
    assert set(payloads) == {f"{t}:{n}".encode() for t in range(THREADS) for n in range(PER_THREAD)}
    # Oldest first is arrival order: unique, increasing creation times; each sender's own in order.
    assert [e.created_at for e in pending] == sorted({e.created_at for e in pending})
    for thread_number, sender in enumerate(senders):
        mine = [int(e.payload.split(b":")[1]) for e in pending if e.sender_id == sender.pk]
        assert mine == list(range(PER_THREAD)), thread_number


@pytest.mark.parametrize("relay_store", store_params(), indirect=True)
def test_the_cap_holds_exactly_under_the_race(relay_store, make_user, settings):
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 600
    recipient = make_user()
    senders = [make_user() for _ in range(THREADS)]

    queued, refused = queue_from_threads(senders, recipient)

    assert len(queued) == 600 and len(refused) == 400
    assert all(retry_after >= 1 for _, retry_after in refused)
    pending = envelopes_pending(recipient_id=recipient.pk)
    assert {e.id for e in pending} == {e.id for e in queued} and len(pending) == 600
    assert envelopes_pending_count(recipient_id=recipient.pk) == 600
    # A refused envelope is nowhere.
    assert not {payload for payload, _ in refused} & {e.payload for e in pending}


@pytest.mark.parametrize("relay_store", store_params()[1:], indirect=True)
def test_twenty_threads_of_fifty_on_the_database_store(relay_store, make_user):
    recipient = make_user()
    queued, refused = queue_from_threads([make_user() for _ in range(THREADS)], recipient)
    pending = envelopes_pending(recipient_id=recipient.pk)
    assert refused == [] and len(pending) == 1000 and {e.id for e in pending} == {e.id for e in queued}


@pytest.mark.parametrize("relay_store", store_params(), indirect=True)
def test_a_senders_share_holds_exactly_under_the_race(relay_store, make_user, settings):
    """One sender from twenty threads at once, another sender at the same time: the first gets
    exactly its share, the second all of its envelopes (the share is counted in the same atomic
    step as the cap)."""
    settings.RELAY_MAX_PENDING_PER_SENDER = 300
    recipient, flooder, friend = make_user(), make_user(), make_user()

    queued, refused = queue_from_threads([flooder] * (THREADS - 1) + [friend], recipient)

    from_flooder = [e for e in queued if e.sender_id == flooder.pk]
    from_friend = [e for e in queued if e.sender_id == friend.pk]
    assert len(from_flooder) == 300 and len(from_friend) == PER_THREAD
    assert len(refused) == (THREADS - 1) * PER_THREAD - 300
    assert all(retry_after >= 1 for _, retry_after in refused)
    assert envelopes_pending_count(recipient_id=recipient.pk) == 300 + PER_THREAD
