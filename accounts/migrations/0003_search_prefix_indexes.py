"""Indexes behind GET /users/search on PostgreSQL.

The search asks `lower(username) LIKE 'ab%'`, `lower(full_name) LIKE 'ab%'` (prefix) and
`lower(email) = 'a@b.c'` (exact, served by the unique index `users_email_ci_unique`), all on
active users. A b-tree on `lower(col) text_pattern_ops` answers a LIKE prefix with a range scan
whatever the database collation; the partial `WHERE is_active` keeps deactivated and deleted
rows out of it. SQLite (the embedded mode) gets no such index: it is for development only.
"""

from django.db import migrations

INDEXES = {
    "users_username_prefix_idx": "lower(username) text_pattern_ops",
    "users_full_name_prefix_idx": "lower(full_name) text_pattern_ops",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON users ({expression}) WHERE is_active")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_deleted_users_prekeys_bans")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
