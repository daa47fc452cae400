"""relay.statements.lock_recipient_queue, the database store's per-recipient lock: on PostgreSQL
(real run) a transaction-scoped advisory lock, gone at COMMIT; on SQLite (embedded run) nothing to
take, the transaction's write lock serialises the queue already."""

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from relay.statements import ADVISORY_LOCK_NAMESPACE, advisory_key, lock_recipient_queue

pytestmark = pytest.mark.django_db(transaction=True)


def advisory_locks_held(recipient_id) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
            "AND classid = %s AND objid = %s AND objsubid = 2",
            [ADVISORY_LOCK_NAMESPACE, advisory_key(recipient_id) & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]


def test_the_lock_is_held_until_the_transaction_ends():
    recipient = uuid.uuid4()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        lock_recipient_queue(recipient)
        if connection.vendor == "postgresql":
            assert advisory_locks_held(recipient) == 1
        else:
            assert len(queries) == 0  # SQLite: BEGIN IMMEDIATE holds the database's write lock
    if connection.vendor == "postgresql":
        assert advisory_locks_held(recipient) == 0
