"""A monotonic stream position shared by every app that feeds `/sync` (Synapse's stream ordering).

`next_stream_position()` must run inside the writer's transaction, as late as possible: it
increments one counter row, and the row lock it takes is held until that transaction commits.
A second writer waits for the first to commit before it gets the next number, so a reader never
sees position N+1 committed while N is still in flight (the gap that made timestamp- or
sequence-based `since` queries lose messages: mattermost #13846, #34055). The cost is that
stream writers serialise on the lock for the short tail of their transactions.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F

from messenger.core.models import StreamCounter

MAIN_STREAM = "events"


def next_stream_position(stream: str = MAIN_STREAM) -> int:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_stream_position() must run inside the writer's transaction")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO core_stream_counter (name, value) VALUES (%s, 1) "
                "ON CONFLICT (name) DO UPDATE SET value = core_stream_counter.value + 1 "
                "RETURNING value",
                [stream],
            )
            return int(cursor.fetchone()[0])
    # SQLite: the write lock is database-wide and held until commit, which gives the same order.
    updated = StreamCounter.objects.filter(name=stream).update(value=F("value") + 1)
    if not updated:
        StreamCounter.objects.create(name=stream, value=1)
        return 1
    return StreamCounter.objects.values_list("value", flat=True).get(name=stream)


def current_stream_position(stream: str = MAIN_STREAM) -> int:
    """The last committed position: a fresh `/sync` token."""
    return StreamCounter.objects.filter(name=stream).values_list("value", flat=True).first() or 0
