"""The relay's hand-written statement (the database store's per-recipient lock), the dialect split
in one place: tests/relay/test_statements.py runs it in both modes (SQLite embedded, PostgreSQL
real) and checks what it holds."""

from __future__ import annotations

from uuid import UUID

from django.db import connection

# First key of the two-key advisory lock: this app's namespace, so another app's advisory locks
# never collide with the relay's. ("relay" in ASCII.)
ADVISORY_LOCK_NAMESPACE = 0x72656C61


def advisory_key(recipient_id: UUID) -> int:
    return int.from_bytes(recipient_id.bytes[:4], "big", signed=True)


def lock_recipient_queue(recipient_id: UUID) -> None:
    """Serialise queue-and-cap per recipient until the transaction ends. PostgreSQL: a
    transaction-scoped advisory lock on the recipient. SQLite (settings: transaction_mode
    IMMEDIATE) holds the database's write lock from BEGIN, so two queue transactions cannot
    interleave there: nothing to take."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [ADVISORY_LOCK_NAMESPACE, advisory_key(recipient_id)],
            )
