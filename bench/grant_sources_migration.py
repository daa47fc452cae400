"""Time the grant-source migrations (media 0002, 0003, messaging 0004) on a populated PostgreSQL
database, and print the plans of the two queries they serve: the access check and the revoke.

The database is taken back to before media's 0002, emptied and filled set-based: 1:1 messages
(a share with one attachment each, 1% of those deleted for everyone before the fix, so their
grants are the leak), groups with members, group messages with one attachment and a wrapped key
per member, one sourceless grant per (media, recipient) as the old code wrote them, and grants
of deleted groups' media (leaks too). Then each migration runs forward, timed.

Usage (a scratch database of your own; it is migrated, emptied and filled):

    createdb -h 127.0.0.1 -U postgres messenger_grants_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/messenger_grants_bench \\
        .venv/bin/python bench/grant_sources_migration.py --messages 1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("DATABASE_POOL", "0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402

BEFORE = [("media", "0001_initial"), ("messaging", "0003_message_position_unique")]
STEPS = [
    ("media", "0002_mediagrant_source_id"),
    ("media", "0003_mediagrant_source_indexes"),
    ("messaging", "0004_media_grant_sources"),
]
GRANT_TABLE_SIZE = "SELECT pg_size_pretty(pg_total_relation_size('media_grant'))"
TABLES = [
    "media_grant",
    "media",
    "messaging_message",
    "group_message_keys",
    "group_messages",
    "group_members",
    "groups",
]


def log(message: str) -> None:
    print(message, flush=True)


def execute(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def scalar(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def migrate(targets) -> float:
    started = time.monotonic()
    MigrationExecutor(connection).migrate(targets)
    return time.monotonic() - started


def seed(args: argparse.Namespace) -> None:
    execute("SET maintenance_work_mem = '512MB'")
    execute("SET synchronous_commit = off")
    execute(f"TRUNCATE {', '.join(TABLES)}, users CASCADE")
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY users (id, password, is_superuser, email, username, public_key, is_active, is_verified, "
            "is_staff, role, full_name, avatar_url, bio, date_joined, updated_at, ban_reason) FROM STDIN"
        ) as copy,
    ):
        for n in range(args.users):
            copy.write_row(
                (uuid.uuid4(), "!", False, f"b{n}@example.com", f"b{n}", "", True, True, False, "user",
                 "", "", "", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "")
            )  # fmt: skip
    execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_users (idx int PRIMARY KEY, id uuid)")
    execute("TRUNCATE bench_users")
    execute("INSERT INTO bench_users SELECT row_number() OVER (ORDER BY id) - 1, id FROM users")

    attached = int(args.messages * args.attached_share)
    # One media per attached 1:1 message, its sender the uploader; 1% deleted for everyone.
    execute("DROP TABLE IF EXISTS bench_attached")
    execute(
        """
        CREATE UNLOGGED TABLE bench_attached AS
        SELECT i, gen_random_uuid() AS media_id, s.id AS sender_id, r.id AS recipient_id,
               random() < 0.01 AS deleted
        FROM generate_series(1, %(n)s) AS i
        JOIN bench_users s ON s.idx = (i::bigint * 7919) %% %(users)s
        JOIN bench_users r ON r.idx = (i::bigint * 7919 + 1 + i %% 97) %% %(users)s
        """,
        {"n": attached, "users": args.users},
    )
    media_sql = """
        INSERT INTO media (id, uploader_id, object_key, file_name, file_type, file_size, sha256,
                           state, thumbnail_key, thumbnail_type, thumbnail_state, attached_at, created_at)
        SELECT {id}, {uploader}, 'media/' || {id}::text, 'f', 'image/png', 1000, '', 'ready', '', '',
               'none', now(), now()
        FROM {source}
    """
    execute(media_sql.format(id="media_id", uploader="sender_id", source="bench_attached"))
    execute(
        """
        INSERT INTO messaging_message (id, sender_id, recipient_id, conversation_key, encrypted_content,
            encrypted_session_key, sender_encrypted_session_key, crypto_version, encryption_algorithm,
            client_message_id, attachment_ids, created_at, stream_position, read_at, deleted_at,
            sender_hidden_position, recipient_hidden_position)
        SELECT gen_random_uuid(), coalesce(a.sender_id, s.id), coalesce(a.recipient_id, r.id),
               gen_random_uuid(), convert_to(repeat(md5(g.i::text), 4), 'UTF8'),
               convert_to(md5(g.i::text), 'UTF8'), NULL, '1', 'x25519-aes-256-gcm', NULL,
               CASE WHEN a.media_id IS NULL OR a.deleted THEN '[]'::jsonb
                    ELSE jsonb_build_array(a.media_id::text) END,
               now(), g.i, NULL, CASE WHEN a.deleted THEN now() END, NULL, NULL
        FROM generate_series(1, %(n)s) AS g(i)
        LEFT JOIN bench_attached a ON a.i = g.i
        JOIN bench_users s ON s.idx = (g.i * 31) %% %(users)s
        JOIN bench_users r ON r.idx = (g.i * 31 + 1) %% %(users)s
        """,
        {"n": args.messages, "users": args.users},
    )
    execute(
        "INSERT INTO media_grant (media_id, user_id, created_at) "
        "SELECT media_id, recipient_id, now() FROM bench_attached"
    )

    # Groups: members, group messages with one attachment and a key per member.
    execute(
        "INSERT INTO groups (id, name, description, creator_id, created_at, updated_at) "
        "SELECT gen_random_uuid(), 'g' || g, '', NULL, now(), now() FROM generate_series(1, %s) AS g",
        [args.groups],
    )
    execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_groups (idx int PRIMARY KEY, id uuid)")
    execute("TRUNCATE bench_groups")
    execute("INSERT INTO bench_groups SELECT row_number() OVER (ORDER BY id) - 1, id FROM groups")
    execute(
        """
        INSERT INTO group_members (group_id, user_id, role, joined_at, joined_position)
        SELECT DISTINCT ON (bg.id, bu.id) bg.id, bu.id, CASE WHEN k = 0 THEN 'owner' ELSE 'member' END,
               now(), 0
        FROM bench_groups bg CROSS JOIN generate_series(0, %(size)s - 1) AS k
        JOIN bench_users bu ON bu.idx = (bg.idx * 7919 + k * 104729) %% %(users)s
        """,
        {"size": args.group_size, "users": args.users},
    )
    execute("DROP TABLE IF EXISTS bench_group_attached")
    execute(
        """
        CREATE UNLOGGED TABLE bench_group_attached AS
        SELECT j, gen_random_uuid() AS message_id, gen_random_uuid() AS media_id, bg.id AS group_id,
               owner.user_id AS sender_id
        FROM generate_series(1, %(gm)s) AS j
        JOIN bench_groups bg ON bg.idx = j %% %(groups)s
        JOIN group_members owner ON owner.group_id = bg.id AND owner.role = 'owner'
        """,
        {"gm": args.group_messages, "groups": args.groups},
    )
    execute(media_sql.format(id="media_id", uploader="sender_id", source="bench_group_attached"))
    execute(
        """
        INSERT INTO group_messages (id, group_id, sender_id, encrypted_content, crypto_version,
                                    encryption_algorithm, client_message_id, attachment_ids,
                                    created_at, stream_position)
        SELECT message_id, group_id, sender_id, convert_to(md5(j::text), 'UTF8'), '1', 'a', NULL,
               jsonb_build_array(media_id::text), now(), %(base)s + j
        FROM bench_group_attached
        """,
        {"base": args.messages},
    )
    execute(
        """
        INSERT INTO group_message_keys (message_id, user_id, encrypted_session_key, stream_position)
        SELECT ga.message_id, gm.user_id, '\\x00'::bytea, %(base)s + ga.j
        FROM bench_group_attached ga JOIN group_members gm ON gm.group_id = ga.group_id
        """,
        {"base": args.messages},
    )
    execute(
        """
        INSERT INTO media_grant (media_id, user_id, created_at)
        SELECT ga.media_id, gm.user_id, now()
        FROM bench_group_attached ga JOIN group_members gm ON gm.group_id = ga.group_id
        WHERE gm.user_id <> ga.sender_id
        """
    )
    # A deleted group's media: grants left behind for users who held them (the second leak).
    execute(
        """
        INSERT INTO media_grant (media_id, user_id, created_at)
        SELECT m.id, bu.id, now() FROM media m
        JOIN bench_users bu ON bu.idx = abs(hashtext(m.id::text)) %% %(users)s
        WHERE m.uploader_id <> bu.id AND random() < 0.02
        ON CONFLICT DO NOTHING
        """,
        {"users": args.users},
    )
    execute("VACUUM ANALYZE")


def explain(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params)
        return "\n".join(f"    {row[0]}" for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--attached-share", type=float, default=0.3)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--group-size", type=int, default=200)
    parser.add_argument("--group-messages", type=int, default=2_500)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database.")
    log(f"database {settings.DATABASES['default']['NAME']}: PostgreSQL {connection.pg_version}")  # type: ignore[attr-defined]  # the PostgreSQL backend's
    call_command("migrate", verbosity=0)
    migrate(BEFORE)
    started = time.monotonic()
    seed(args)
    log(f"seeded in {time.monotonic() - started:.1f} s:")
    for table in ("messaging_message", "group_messages", "group_message_keys", "media", "media_grant"):
        log(f"  {table}: {scalar(f'SELECT count(*) FROM {table}'):,} rows")  # noqa: S608
    log(f"  media_grant size: {scalar(GRANT_TABLE_SIZE)}")

    for step in STEPS:
        log(f"migrate {step[0]} {step[1]}: {migrate([step]):.2f} s")
    sourced = scalar("SELECT count(*) FROM media_grant WHERE source_id IS NOT NULL")
    unsourced = scalar("SELECT count(*) FROM media_grant WHERE source_id IS NULL")
    log(f"after: {sourced:,} sourced grants, {unsourced:,} without a source")
    log(f"  media_grant size: {scalar(GRANT_TABLE_SIZE)}")
    execute("ANALYZE media_grant")

    with connection.cursor() as cursor:
        cursor.execute("SELECT media_id, user_id, source_id FROM media_grant ORDER BY id DESC LIMIT 1")
        media_id, user_id, source_id = cursor.fetchone()
    log("the access check (media.selectors.get_visible_media):")
    log(
        explain(
            "SELECT id FROM media WHERE id = %s AND state = 'ready' AND (uploader_id = %s OR EXISTS "
            "(SELECT 1 FROM media_grant g WHERE g.media_id = media.id AND g.user_id = %s))",
            [media_id, user_id, user_id],
        )
    )
    log("the revoke of one group message (media.services.revoke_media_access), rolled back:")
    with transaction.atomic():
        log(explain("DELETE FROM media_grant WHERE source_id = ANY(%s::uuid[])", [[source_id]]))
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()
