"""Messaging's hand-written statements, the dialect split in one place per statement: each public
function here picks PostgreSQL's or SQLite's text itself (or has one text both run, as the history
page's read), and tests/messaging/test_statements.py runs each in both modes (SQLite embedded,
PostgreSQL real) and checks what it wrote or read.

Everything else in the app goes through the ORM, the same on both databases.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict, cast
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.expressions import Col

from contacts.selectors import block_between_sql, is_blocked
from core.stream import (
    MAIN_STREAM,
    column_of,
    next_position_cte_sql,
    next_stream_position,
    positioned_insert_params,
    positioned_insert_sql,
)
from messaging.models import Conversation, Message


class Stored(enum.Enum):
    STORED = "stored"
    BLOCKED = "blocked"  # a block stands between the two: nothing written
    NOT_STORED = "not_stored"  # the recipient is not an active user, or this client id exists


def store_message(message: Message) -> Stored:
    """Write a new message and both sides' conversation rows, and give it its stream position,
    unless a block stands between the two or the recipient is not an active user (or the
    sender's client_message_id exists: the unique constraint decides a race between retries).
    Sets `message.stream_position`. Atomic on its own, and inside a caller's transaction.

    The dialect split of the send, in this one place. PostgreSQL: one statement. Outside a
    transaction (autocommit, a plain send) it is a transaction of its own, which the server
    commits before it answers: the stream counter's row lock (core.stream) is held
    for the statement and its commit and nothing else, not even a round trip to this process
    (which, under load, waits for the GIL before it could send a COMMIT). SQLite: the same
    writes as separate statements in one transaction (its write lock is database-wide anyway).
    """
    if connection.vendor == "postgresql":
        return _store_message_in_one_statement(message)
    with transaction.atomic(savepoint=False):  # nested: the caller's transaction is enough
        return _store_message_in_statements(message)


@functools.cache
def _send_statement() -> str:
    """The send on PostgreSQL (`store_message`): the checks, the position (only if they pass),
    the message (only if the client id is new), both conversation rows (only if the message was
    written), and the checks' answers. Data-modifying CTEs all run, to completion, in the
    statement; each one here reads the previous one's rows, so the counter is locked before the
    conversation rows are, the order every writer takes them in (module docstring)."""
    user_model = get_user_model()
    quote = connection.ops.quote_name
    user_pk = user_model._meta.pk
    uuid_type = user_pk.db_type(connection)
    conversation = Conversation._meta
    sender, recipient = f"CAST(%s AS {uuid_type})", f"CAST(%s AS {uuid_type})"
    # Only identifiers from the models and fixed SQL are formatted in; every value is a parameter.
    return (
        "WITH checks AS ("  # noqa: S608
        f"SELECT {block_between_sql()} AS blocked, "
        f"EXISTS (SELECT 1 FROM {quote(user_model._meta.db_table)} WHERE {quote(column_of(user_pk))} = {recipient} "
        f"AND {quote(column_of(user_model._meta.get_field('is_active')))}) AS recipient_active), "
        f"position AS ({next_position_cte_sql(source='checks WHERE NOT blocked AND recipient_active')}), "
        f"message AS ({positioned_insert_sql(Message)} "
        f"ON CONFLICT ({quote('sender_id')}, {quote('client_message_id')}) DO NOTHING "
        f"RETURNING {quote('id')}, {quote('stream_position')}), "
        f"pair (owner, peer) AS (VALUES ({sender}, {recipient}), ({recipient}, {sender})), "
        f"conversations AS (INSERT INTO {quote(conversation.db_table)} "
        f"({quote('owner_id')}, {quote('peer_id')}, {quote('last_message_id')}, {quote('last_position')}, "
        f"{quote('updated_at')}) "
        f"SELECT pair.owner, pair.peer, message.{quote('id')}, message.{quote('stream_position')}, "
        f"CAST(%s AS {conversation.get_field('updated_at').db_type(connection)}) FROM message, pair "
        f"ON CONFLICT ({quote('owner_id')}, {quote('peer_id')}) DO UPDATE SET "
        f"{quote('last_message_id')} = excluded.{quote('last_message_id')}, "
        f"{quote('last_position')} = excluded.{quote('last_position')}, "
        f"{quote('updated_at')} = excluded.{quote('updated_at')}) "
        f"SELECT checks.blocked, (SELECT {quote('stream_position')} FROM message) FROM checks"
    )


def _store_message_in_one_statement(message: Message) -> Stored:
    user_pk = get_user_model()._meta.pk
    sender = user_pk.get_db_prep_value(message.sender_id, connection)
    recipient = user_pk.get_db_prep_value(message.recipient_id, connection)
    params = [
        sender,  # block_between_sql: (actor, target, target, actor)
        recipient,
        recipient,
        sender,
        recipient,  # recipient_active
        MAIN_STREAM,
        *positioned_insert_params(message),
        sender,  # pair
        recipient,
        recipient,
        sender,
        Conversation._meta.get_field("updated_at").get_db_prep_save(message.created_at, connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_send_statement(), params)
        blocked, position = cursor.fetchone()
    if blocked:
        return Stored.BLOCKED
    if position is None:
        return Stored.NOT_STORED
    message.stream_position = position
    return Stored.STORED


def _store_message_in_statements(message: Message) -> Stored:
    if is_blocked(actor_id=message.sender_id, target_id=message.recipient_id):
        return Stored.BLOCKED
    message.stream_position = next_stream_position()
    if not _insert_if_recipient_active(message):
        return Stored.NOT_STORED
    Conversation.objects.bulk_create(
        [
            Conversation(
                owner_id=owner,
                peer_id=peer,
                last_message=message,
                last_position=message.stream_position,
                updated_at=message.created_at,
            )
            for owner, peer in (
                (message.sender_id, message.recipient_id),
                (message.recipient_id, message.sender_id),
            )
        ],
        update_conflicts=True,
        unique_fields=["owner", "peer"],
        update_fields=["last_message", "last_position", "updated_at"],
    )
    return Stored.STORED


def _insert_if_recipient_active(message: Message) -> bool:
    """INSERT the row unless its (sender, client_message_id) exists or the recipient is not an
    active user; True if it was inserted (SQLite's send: `store_message`)."""
    user_model = get_user_model()
    quote = connection.ops.quote_name
    fields = Message._meta.concrete_fields
    # Only identifiers from the models and fixed SQL are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(Message._meta.db_table)} ({', '.join(quote(column_of(f)) for f in fields)}) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(fields))} "
        f"WHERE EXISTS (SELECT 1 FROM {quote(user_model._meta.db_table)} "
        f"WHERE {quote(column_of(user_model._meta.pk))} = %s "
        f"AND {quote(column_of(user_model._meta.get_field('is_active')))}) "
        f"ON CONFLICT ({quote('sender_id')}, {quote('client_message_id')}) DO NOTHING "
        f"RETURNING {quote('id')}"
    )
    params = [field.get_db_prep_save(getattr(message, field.attname), connection) for field in fields]
    params.append(user_model._meta.pk.get_db_prep_value(message.recipient_id, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


class MessageRow(TypedDict):
    """The columns `<message>` is built from (messaging.events.message_row_payload), with the
    values the model's fields would hold, or the ids' text (`conversation_page_rows`)."""

    id: UUID | str
    sender_id: UUID | str
    recipient_id: UUID | str
    encrypted_content: bytes | memoryview
    encrypted_session_key: bytes | memoryview
    sender_encrypted_session_key: bytes | memoryview | None
    crypto_version: str
    encryption_algorithm: str
    client_message_id: UUID | str | None
    attachment_ids: list[str] | None
    read_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime | None


class PagedMessageRow(MessageRow):
    stream_position: int  # the cursor's position


# In the row's order: the statement selects these columns, in this order.
_PAGE_COLUMNS: tuple[str, ...] = tuple(PagedMessageRow.__annotations__)
# By attname (`sender_id`), as the row's keys.
_FIELDS = {field.attname: field for field in Message._meta.concrete_fields}


def conversation_page_rows(
    *,
    conversation_key: UUID,
    user_id: UUID,
    position: int | None,
    ascending: bool,
    offset: int,
    limit: int,
) -> list[PagedMessageRow]:
    """A page of one conversation as `user_id` sees it (messaging.selectors.conversation_page).

    Its WHERE is the one the ORM writes for `conversation_messages` (the two NOTs, whose plan
    that docstring explains), the same text on both dialects; only the select list differs
    (`_page_select_list`). Each value goes through its field's converters as the ORM would
    (SQLite's UUIDs and times, the JSON list), so a row holds what the model's fields would,
    but for the ids' text on PostgreSQL and None for an empty `attachment_ids`.
    """
    params: list[Any] = [
        _FIELDS["conversation_key"].get_db_prep_value(conversation_key, connection),
        _FIELDS["sender_id"].get_db_prep_value(user_id, connection),
        _FIELDS["recipient_id"].get_db_prep_value(user_id, connection),
    ]
    if position is not None:
        params.append(position)
    params += [limit, offset]
    statement = _conversation_page_statement(
        connection.vendor, bounded=position is not None, ascending=ascending
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    converters = _page_converters(connection.vendor)
    if converters:
        rows = [_converted(list(row), converters) for row in rows]
    return [cast(PagedMessageRow, dict(zip(_PAGE_COLUMNS, row, strict=True))) for row in rows]


@functools.cache
def _conversation_page_statement(vendor: str, *, bounded: bool, ascending: bool) -> str:
    quote = connection.ops.quote_name
    column = {name: quote(column_of(field)) for name, field in _FIELDS.items()}
    position = column["stream_position"]
    # Only identifiers from the model and fixed SQL are formatted in; every value is a parameter.
    return (
        f"SELECT {', '.join(_page_select_list(vendor))} "  # noqa: S608
        f"FROM {quote(Message._meta.db_table)} WHERE {column['conversation_key']} = %s "
        f"AND NOT ({column['sender_hidden_position']} IS NOT NULL AND {column['sender_id']} = %s) "
        f"AND NOT ({column['recipient_hidden_position']} IS NOT NULL AND {column['recipient_id']} = %s) "
        + (f"AND {position} {'>' if ascending else '<'} %s " if bounded else "")
        + f"ORDER BY {position} {'ASC' if ascending else 'DESC'} LIMIT %s OFFSET %s"
    )


def _page_select_list(vendor: str) -> list[str]:
    """`_PAGE_COLUMNS`, some in a form cheaper to render (the rows are only ever rendered).
    PostgreSQL sends the uuids as text: psycopg's UUID objects and the builder's str() of each
    cost a page of 50 about 0.2 ms. `attachment_ids` is NULL when empty (most messages), on both:
    no JSON to parse (the literal is text on SQLite's text column, and jsonb on PostgreSQL's)."""
    quote = connection.ops.quote_name
    select = []
    for name in _PAGE_COLUMNS:
        column = quote(column_of(_FIELDS[name]))
        if name in _TEXT_ON_POSTGRESQL and vendor == "postgresql":
            column = f"CAST({column} AS text)"
        elif name == "attachment_ids":
            column = f"NULLIF({column}, '[]')"
        select.append(column)
    return select


# The page's uuid columns (PostgreSQL sends them as text: `_page_select_list`).
_TEXT_ON_POSTGRESQL = frozenset({"id", "sender_id", "recipient_id", "client_message_id"})

_Converter = Callable[[Any, Any, Any], Any]


@functools.cache
def _page_converters(vendor: str) -> tuple[tuple[int, tuple[_Converter, ...], Col], ...]:
    """What the ORM's compiler runs on each selected column (`SQLCompiler.get_converters`),
    for the columns that have any on this database (none of PostgreSQL's uuids read as text)."""
    found = []
    for index, name in enumerate(_PAGE_COLUMNS):
        if vendor == "postgresql" and name in _TEXT_ON_POSTGRESQL:
            continue
        col = _FIELDS[name].get_col(Message._meta.db_table)
        converters = (*connection.ops.get_db_converters(col), *col.get_db_converters(connection))
        if converters:
            found.append((index, converters, col))
    return tuple(found)


def _converted(row: list[Any], converters: tuple[tuple[int, tuple[_Converter, ...], Col], ...]) -> list[Any]:
    for index, functions, col in converters:
        value = row[index]
        for function in functions:
            value = function(value, col, connection)
        row[index] = value
    return row
