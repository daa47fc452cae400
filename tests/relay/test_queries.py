"""Query budgets: each relay endpoint runs a fixed, small number of SQL queries, whatever the
size of the queue. The Redis store needs only the authentication lookup (and, to queue, the
recipient's existence); the database store adds its own statements."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.relay.helpers import b64

pytestmark = pytest.mark.django_db

# endpoint -> store -> budget. Auth is one query (the active user); queueing checks the
# recipient (one) and the relay's replica of blocks (one); the database store then locks the
# queue (PostgreSQL only), deletes the queue's expired rows, counts (the queue and the sender's
# share in one statement), and inserts, and counts again for the queue-depth metric.
BUDGETS = {
    "queue": {"redis": 3, "database": 8},
    "pending": {"redis": 1, "database": 2},
    "ack": {"redis": 1, "database": 2},
}


def test_queue_budget(relay_store, queue, client_for, user, other_user, django_assert_max_num_queries):
    queue(user, other_user)  # not the first envelope of the queue
    body = {"recipient_id": str(other_user.pk), "payload": b64(b"x" * 1000)}
    client = client_for(user)  # (minting its token writes a row: outside the budget)
    with django_assert_max_num_queries(BUDGETS["queue"][relay_store.name]):
        assert client.post("/api/v1/relay/queue", body, format="json").status_code == 201


def test_pending_budget_does_not_grow_with_the_queue(relay_store, queue, client_for, user, other_user):
    reader = client_for(other_user)
    url = f"/api/v1/relay/pending/{other_user.pk}?limit=200"

    queue(user, other_user)
    with CaptureQueriesContext(connection) as one:
        assert len(reader.get(url).json()["results"]) == 1
    for _ in range(119):
        queue(user, other_user)
    with CaptureQueriesContext(connection) as many:
        assert len(reader.get(url).json()["results"]) == 120

    assert len(one) == len(many) <= BUDGETS["pending"][relay_store.name]


def test_ack_budget(relay_store, queue, client_for, user, other_user, django_assert_max_num_queries):
    envelope_id = queue(user, other_user).json()["id"]
    recipient = client_for(other_user)  # (minting its token writes a row: outside the budget)
    with django_assert_max_num_queries(BUDGETS["ack"][relay_store.name]):
        assert recipient.delete(f"/api/v1/relay/{envelope_id}").status_code == 204
