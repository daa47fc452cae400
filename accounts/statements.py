"""Accounts' hand-written statements, the dialect split in one place (tests/accounts/test_statements.py
runs each in both modes and compares it with the ORM).

Every authenticated request runs `active_user_by_id`: it is the one read that every REST request
and every socket connect pays, so it skips the ORM's query building (issue 15: 600 us of CPU per
request through `User.objects.filter(pk=..., is_active=True).first()`, 160 us here).
"""

from __future__ import annotations

import functools
import uuid

from django.db import connection

from accounts.models import User


@functools.cache
def _active_user_sql() -> tuple[str, tuple[str, ...]]:
    quote = connection.ops.quote_name
    fields = User._meta.concrete_fields
    columns = ", ".join(quote(str(field.column)) for field in fields)  # a concrete field has one
    table, pk = quote(User._meta.db_table), quote(str(User._meta.pk.column))
    sql = f"SELECT {columns} FROM {table} WHERE {pk} = %s AND is_active LIMIT 1"  # noqa: S608 (names from the model)
    return sql, tuple(field.attname for field in fields)


def active_user_by_id(user_id: uuid.UUID) -> User | None:
    """The active user with this id, or None: the same row, fields and types as
    `User.objects.filter(pk=user_id, is_active=True).first()`.

    PostgreSQL: one prepared text, its row handed to `User.from_db` as it comes (psycopg gives the
    Python types Django's fields hold: UUID, bool, aware datetimes). SQLite returns text for UUIDs
    and datetimes, which only the ORM's converters turn back: there, a raw queryset of the same text.
    """
    sql, attnames = _active_user_sql()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, [user_id])
            row = cursor.fetchone()
        return None if row is None else User.from_db(connection.alias, list(attnames), row)
    return next(iter(User.objects.raw(sql, [user_id.hex])), None)
