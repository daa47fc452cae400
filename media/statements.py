"""Media's hand-written statements (the grants: one statement for any number of media, grantees
or sources), the dialect split in one place per statement: each function picks PostgreSQL's text
(array parameters) or SQLite's (JSON arrays) itself, and tests/media/test_statements.py runs each in
both modes (SQLite embedded, PostgreSQL real) and checks what it wrote.
"""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from django.db import connection

from media.models import MediaGrant


def insert_grants(media_ids: list[UUID], user_ids: list[UUID], source_id: UUID | None, now: datetime) -> None:
    """Every (media, user) pair in one statement with two array parameters, so the statement and
    its parameter count stay the same for 1 grantee or 1,000. A pair the same source already
    granted is skipped (media_grant_source_unique; media_grant_unsourced_unique without a source)."""
    table = MediaGrant._meta.db_table
    media_col = MediaGrant._meta.get_field("media").column
    user_col = MediaGrant._meta.get_field("user").column
    source_col = MediaGrant._meta.get_field("source_id").column
    created = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} ({media_col}, {user_col}, {source_col}, created_at) "  # noqa: S608 (names from the model)
                "SELECT m, u, %s::uuid, %s FROM unnest(%s::uuid[]) AS m CROSS JOIN unnest(%s::uuid[]) AS u "
                "ON CONFLICT DO NOTHING",
                [source_id, created, media_ids, user_ids],
            )
        else:  # SQLite stores UUIDs as 32 hex characters
            cursor.execute(
                f"INSERT OR IGNORE INTO {table} ({media_col}, {user_col}, {source_col}, created_at) "  # noqa: S608
                "SELECT m.value, u.value, %s, %s FROM json_each(%s) AS m CROSS JOIN json_each(%s) AS u",
                [
                    source_id.hex if source_id is not None else None,
                    created,
                    json.dumps([m.hex for m in media_ids]),
                    json.dumps([u.hex for u in user_ids]),
                ],
            )


def delete_grants_of_sources(sources: list[UUID]) -> int:
    """Delete every grant made by one of `sources` (one statement); returns how many went."""
    table = MediaGrant._meta.db_table
    source_col = MediaGrant._meta.get_field("source_id").column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"DELETE FROM {table} WHERE {source_col} = ANY(%s::uuid[])",  # noqa: S608 (names from the model)
                [sources],
            )
        else:
            cursor.execute(
                f"DELETE FROM {table} WHERE {source_col} IN (SELECT value FROM json_each(%s))",  # noqa: S608
                [json.dumps([source.hex for source in sources])],
            )
        return cursor.rowcount
