"""Groups' hand-written statement, the dialect split in one place: `insert_group_message` picks
PostgreSQL's one statement or SQLite's three itself, and tests/groups/test_statements.py runs it in
both modes (SQLite embedded, PostgreSQL real) and checks what it wrote."""

from __future__ import annotations

import functools
from uuid import UUID

from django.db import connection

from core.stream import (
    MAIN_STREAM,
    next_position_cte_sql,
    next_stream_position,
    positioned_insert_params,
    positioned_insert_sql,
)
from groups.models import GroupMessage, GroupMessageKey


@functools.cache
def _group_message_statement() -> str:
    """`insert_group_message` on PostgreSQL: the position, the message, every member's key."""
    quote = connection.ops.quote_name
    user_type = GroupMessageKey._meta.get_field("user").target_field.db_type(connection)
    key_type = GroupMessageKey._meta.get_field("encrypted_session_key").db_type(connection)
    # Only identifiers from the models and fixed SQL are formatted in; every value is a parameter.
    return (
        f"WITH position AS ({next_position_cte_sql(source='(VALUES (1)) AS one')}), "  # noqa: S608
        f"message AS ({positioned_insert_sql(GroupMessage)} RETURNING {quote('id')}, {quote('stream_position')}), "
        f"keys AS (INSERT INTO {quote(GroupMessageKey._meta.db_table)} "
        f"({quote('message_id')}, {quote('user_id')}, {quote('encrypted_session_key')}, {quote('stream_position')}) "
        f"SELECT message.{quote('id')}, key.user_id, CAST(decode(key.hex, 'hex') AS {key_type}), "
        f"message.{quote('stream_position')} "
        f"FROM message, unnest(CAST(string_to_array(%s, ',') AS {user_type}[]), "
        f"string_to_array(%s, ',')) AS key(user_id, hex)) "
        f"SELECT {quote('stream_position')} FROM message"
    )


def insert_group_message(message: GroupMessage, keys: dict[UUID, bytes]) -> None:
    """Give `message` its stream position and write it with every member's key, as the
    transaction's last step: the counter's row lock is held from here until COMMIT
    (core.stream). PostgreSQL: one statement. SQLite: three (its write lock is
    database-wide anyway)."""
    if connection.vendor != "postgresql":
        message.stream_position = next_stream_position()
        message.save(force_insert=True)
        GroupMessageKey.objects.bulk_create(
            GroupMessageKey(
                message=message,
                user_id=uid,
                encrypted_session_key=key,
                stream_position=message.stream_position,
            )
            for uid, key in keys.items()
        )
        return
    params = [
        MAIN_STREAM,
        *positioned_insert_params(message),
        # The ids and keys as two comma-separated texts, split by the statement: psycopg quotes
        # an array element by element in Python (a regex per key), about 4 us per member.
        ",".join([f"{user_id.int:032x}" for user_id in keys]),  # hyphenless: a fifth of str()'s cost
        ",".join([bytes(key).hex() for key in keys.values()]),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_group_message_statement(), params)
        (message.stream_position,) = cursor.fetchone()
    message._state.adding = False
