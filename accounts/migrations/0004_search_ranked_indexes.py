"""Indexes behind GET /users/search on PostgreSQL, one per ranked branch (accounts.selectors).

0003's `lower(col) text_pattern_ops` indexes served the LIKE prefix but not the ORDER BY, so
PostgreSQL answered `... OR ... ORDER BY username LIMIT 21` by walking users_username_key and
filtering: 0.7 s for a rare name and 3 s for an email at a million users
(bench/explain_user_search.py). Each branch now sorts by the expression its index holds,
`lower(col) COLLATE "C"` (byte order, so a prefix is a range in any database collation), and a
page is one index range scan that stops after `limit + 1` rows:

- users_search_username_idx: `lower(username) COLLATE "C"`, active users only
- users_search_full_name_idx: `lower(full_name) COLLATE "C", id` (id breaks ties between names)
- the exact email keeps the unique `lower(email)` index (users_email_ci_unique)

CONCURRENTLY, so building them on a live table does not block sign-ups. SQLite (the embedded
mode) gets none of them: it is for development only.
"""

from django.db import migrations

OLD = ("users_username_prefix_idx", "users_full_name_prefix_idx")
NEW = {
    "users_search_username_idx": '(lower(username) COLLATE "C")',
    "users_search_full_name_idx": '(lower(full_name) COLLATE "C"), id',
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in NEW.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON users ({columns}) WHERE is_active"
        )
    for name in OLD:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in NEW:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for name, expression in (
        ("users_username_prefix_idx", "lower(username) text_pattern_ops"),
        ("users_full_name_prefix_idx", "lower(full_name) text_pattern_ops"),
    ):
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON users ({expression}) WHERE is_active"
        )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("accounts", "0003_search_prefix_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
