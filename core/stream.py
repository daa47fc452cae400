"""A monotonic stream position shared by every app that feeds `/sync` (Synapse's stream ordering).

`next_stream_position()` must run inside the writer's transaction, as late as possible: it
increments one counter row, and the row lock it takes is held until that transaction commits.
A second writer waits for the first to commit before it gets the next number, so a reader never
sees position N+1 committed while N is still in flight (the gap that made timestamp- or
sequence-based `since` queries lose messages: mattermost #13846, #34055). The cost is that
stream writers serialise on the lock for the short tail of their transactions.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import Model

from core.models import StreamCounter

MAIN_STREAM = "events"

# One statement on both backends (SQLite >= 3.35 has RETURNING). On SQLite the write lock is
# database-wide and held until commit (IMMEDIATE transactions), which gives the same order.
_INCREMENT_SQL = (
    "INSERT INTO core_stream_counter (name, value) VALUES (%s, %s) "
    "ON CONFLICT (name) DO UPDATE SET value = core_stream_counter.value + excluded.value "
    "RETURNING value"
)


def next_position_cte_sql(*, source: str) -> str:
    """The increment as the body of a data-modifying CTE, for a writer on PostgreSQL that folds
    it into the one statement it ends its transaction with (messaging's send): one row,
    `value`, the position, when `source` (an SQL `FROM` clause, without `FROM`) has a row; no
    row and no lock otherwise. Takes one parameter, the stream's name.

    Fold it only into the transaction's LAST statement: the row lock it takes is held until
    COMMIT, so everything the transaction does after it (in Python too) is time every other
    stream writer waits.
    """
    return (
        f"INSERT INTO core_stream_counter (name, value) SELECT %s, 1 FROM {source} "  # noqa: S608
        "ON CONFLICT (name) DO UPDATE SET value = core_stream_counter.value + excluded.value "
        "RETURNING value"
    )


def positioned_insert_sql(model: type[Model], *, position: str = "position") -> str:
    """`INSERT INTO <model's table> (<every column>) SELECT ... FROM <position>`: one parameter
    per column (`positioned_insert_params`), except `stream_position`, which takes the value of
    the `next_position_cte_sql` CTE named `position`. For a writer's one-statement insert."""
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    # INSERT ... SELECT gives the parameters no column types to infer: cast each one.
    values = ", ".join(
        f"{position}.value"
        if field.attname == "stream_position"
        else f"CAST(%s AS {field.db_type(connection)})"
        for field in fields
    )
    # Only identifiers from the model and fixed SQL are formatted in; every value is a parameter.
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608
        f"SELECT {values} FROM {position}"
    )


def positioned_insert_params(instance: Model) -> list[Any]:
    """The parameters of `positioned_insert_sql` for one row."""
    return [
        field.get_db_prep_save(getattr(instance, field.attname), connection)
        for field in instance._meta.concrete_fields
        if field.attname != "stream_position"
    ]


def next_stream_positions(count: int, stream: str = MAIN_STREAM) -> range:
    """`count` consecutive positions in one increment (a batch write, e.g. "read up to here")."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_stream_position() must run inside the writer's transaction")
    with connection.cursor() as cursor:
        cursor.execute(_INCREMENT_SQL, [stream, count])
        last = int(cursor.fetchone()[0])
    return range(last - count + 1, last + 1)


def next_stream_position(stream: str = MAIN_STREAM) -> int:
    return next_stream_positions(1, stream)[0]


def current_stream_position(stream: str = MAIN_STREAM) -> int:
    """The last committed position: a fresh `/sync` token."""
    return StreamCounter.objects.filter(name=stream).values_list("value", flat=True).first() or 0
