"""Seed a scratch PostgreSQL database with millions of 1:1 messages and print the plans of the
queries that must stay fast: a conversation page (first and cursor), the conversations list
(and its unread counts), and /sync.

The SQL explained is the SQL the endpoints run: each endpoint is called through Django's test
client with a real access token, its queries are captured, and each one is run again under
`EXPLAIN (ANALYZE, BUFFERS)`.

Usage (a database of your own; it is migrated, emptied and filled):

    createdb -h 127.0.0.1 -U postgres messenger_msg_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/messenger_msg_bench \\
        .venv/bin/python bench/explain_messaging.py --messages 10000000
    # again without seeding, e.g. after changing an index:
    DATABASE_URL=... .venv/bin/python bench/explain_messaging.py --explain-only

Seeding is set-based: users and conversation pairs are COPYed from Python (a pair's key is a
uuid5, as the app computes it), messages, conversation rows, read/delete events and group
messages come from `generate_series`. Indexes and constraints are dropped for the load and
re-created from their own definitions (`pg_get_indexdef`, `pg_get_constraintdef`) afterwards,
so the database ends with exactly the migrations' schema. The distribution is skewed on
purpose: a few conversations hold a large share of the messages (the heaviest holds about 1%),
a few users are in many conversations, about 1% of messages (the newest) are unread, 0.5% are
deleted for everyone and 0.5% hidden by one side.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DATABASE_POOL", "0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework_simplejwt.tokens import RefreshToken  # noqa: E402

from messaging.models import conversation_key_for  # noqa: E402

SEEDED_TABLES = [
    "messaging_message",
    "messaging_conversation",
    "messaging_message_event",
    "groups",
    "group_members",
    "group_messages",
    "group_message_keys",
]


def log(message: str) -> None:
    print(message, flush=True)


class Timer:
    def __init__(self, label: str) -> None:
        self.label = label

    def __enter__(self) -> Timer:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        log(f"  {self.label}: {time.monotonic() - self.started:.1f} s")


def execute(sql: str, params: list[Any] | dict[str, Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def fetchall(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def copy_rows(table: str, columns: list[str], rows) -> None:
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


# --- Schema: drop indexes and constraints for the load, re-create them after -----------------


def schema_snapshot() -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
    """(constraints: table, name, type, definition), (plain indexes: name, definition)."""
    constraints = fetchall(
        """
        SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('p', 'u', 'f')
        """,
        [SEEDED_TABLES],
    )
    indexes = fetchall(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        [SEEDED_TABLES],
    )
    return constraints, indexes


def drop_schema_extras(constraints, indexes) -> None:
    for table, name, _kind, _ in sorted(constraints, key=lambda c: c[2] != "f"):  # FKs first
        execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        execute(f"DROP INDEX {name}")


def restore_schema_extras(constraints, indexes) -> None:
    order = {"p": 0, "u": 1, "f": 2}
    for table, name, kind, definition in sorted(constraints, key=lambda c: order[c[2]]):
        if kind == "f":
            continue
        with Timer(f"constraint {name}"):
            execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        with Timer(f"index {name}"):
            execute(definition)
    for table, name, kind, definition in constraints:
        if kind == "f":
            with Timer(f"foreign key {name}"):
                execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


# --- Seeding ----------------------------------------------------------------------------------


def seed(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)  # noqa: S311 (reproducible test data, not secrets)
    execute("SET maintenance_work_mem = '1GB'")
    execute("SET synchronous_commit = off")
    execute("SET work_mem = '256MB'")
    log("emptying the seeded tables")
    execute(f"TRUNCATE {', '.join(SEEDED_TABLES)}, core_stream_counter, users CASCADE")
    constraints, indexes = schema_snapshot()
    drop_schema_extras(constraints, indexes)

    log(f"users: {args.users:,}")
    user_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(args.users)]
    with Timer("copy users"):
        copy_rows(
            "users",
            [
                "id",
                "password",
                "is_superuser",
                "email",
                "username",
                "public_key",
                "is_active",
                "is_verified",
                "is_staff",
                "role",
                "full_name",
                "avatar_url",
                "bio",
                "date_joined",
                "updated_at",
                "ban_reason",
            ],
            (
                (
                    user_id,
                    "!",
                    False,
                    f"bench{n}@example.com",
                    f"bench{n}",
                    "",
                    True,
                    True,
                    False,
                    "user",
                    f"Bench User {n}",
                    "",
                    "",
                    "2026-01-01T00:00:00Z",
                    "2026-01-01T00:00:00Z",
                    "",
                )
                for n, user_id in enumerate(user_ids)
            ),
        )

    # Pairs: user a is skewed (a few users talk to very many), b is uniform.
    pairs: dict[tuple[int, int], None] = {}
    while len(pairs) < args.pairs:
        a = int(args.users * rng.random() ** 3)
        b = rng.randrange(args.users)
        if a != b:
            pairs.setdefault((min(a, b), max(a, b)), None)
    log(f"conversation pairs: {len(pairs):,}")
    execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_pairs (idx int PRIMARY KEY, a uuid, b uuid, key uuid)")
    execute("TRUNCATE bench_pairs")
    with Timer("copy pairs"):
        copy_rows(
            "bench_pairs",
            ["idx", "a", "b", "key"],
            (
                (idx, user_ids[a], user_ids[b], conversation_key_for(user_ids[a], user_ids[b]))
                for idx, (a, b) in enumerate(pairs)
            ),
        )
    execute("ANALYZE bench_pairs")

    n = args.messages
    # Positions interleave the streams: 1:1 message i at 4i, its read at 4i+2, group messages
    # at 4i+1 for every (n / group_messages)-th i, deletions and hides at 4i+3.
    with Timer(f"insert {n:,} messages"):
        execute(
            """
            INSERT INTO messaging_message (
                id, sender_id, recipient_id, conversation_key, encrypted_content,
                encrypted_session_key, sender_encrypted_session_key, crypto_version,
                encryption_algorithm, client_message_id, attachment_ids, created_at,
                stream_position, read_at, deleted_at, sender_hidden_position,
                recipient_hidden_position)
            SELECT
                gen_random_uuid(),
                CASE WHEN g.forward THEN p.a ELSE p.b END,
                CASE WHEN g.forward THEN p.b ELSE p.a END,
                p.key,
                CASE WHEN g.deleted THEN ''::bytea
                     ELSE convert_to(repeat(md5(g.i::text), 4), 'UTF8') END,
                CASE WHEN g.deleted THEN ''::bytea ELSE convert_to(md5(g.i::text), 'UTF8') END,
                CASE WHEN g.deleted THEN NULL ELSE convert_to(md5((-g.i)::text), 'UTF8') END,
                '1', 'x25519-aes-256-gcm', gen_random_uuid(), '[]'::jsonb,
                g.at,
                4 * g.i,
                CASE WHEN g.unread THEN NULL ELSE g.at + interval '1 minute' END,
                CASE WHEN g.deleted THEN g.at + interval '2 minutes' END,
                CASE WHEN g.hidden AND g.forward THEN 4 * g.i + 3 END,
                CASE WHEN g.hidden AND NOT g.forward THEN 4 * g.i + 3 END
            FROM (
                SELECT i,
                       floor(%(pairs)s * power(random(), 3))::int AS pidx,
                       random() < 0.5 AS forward,
                       timestamptz '2025-01-01' + i * interval '3 seconds' AS at,
                       i > %(n)s * 0.98 AND random() < 0.5 AS unread,
                       random() < 0.005 AS deleted,
                       random() < 0.005 AS hidden
                FROM generate_series(1, %(n)s) AS i
            ) AS g
            JOIN bench_pairs p ON p.idx = g.pidx
            """,
            {"pairs": len(pairs), "n": n},
        )

    with Timer("read and deletion events (one per side)"):
        execute(
            """
            INSERT INTO messaging_message_event (user_id, message_id, kind, position, created_at)
            SELECT side.user_id, m.id, 'read', m.stream_position + 2, m.read_at
            FROM messaging_message m
            CROSS JOIN LATERAL (VALUES (m.sender_id), (m.recipient_id)) AS side(user_id)
            WHERE m.read_at IS NOT NULL AND m.stream_position > %(from)s
            UNION ALL
            SELECT side.user_id, m.id, 'deleted', m.stream_position + 3, m.deleted_at
            FROM messaging_message m
            CROSS JOIN LATERAL (VALUES (m.sender_id), (m.recipient_id)) AS side(user_id)
            WHERE m.deleted_at IS NOT NULL
            """,
            {"from": int(4 * n * (1 - args.event_share))},
        )

    groups = args.groups
    with Timer(f"{groups:,} groups of {args.group_size} members, {args.group_messages:,} group messages"):
        execute(
            """
            INSERT INTO groups (id, name, description, creator_id, created_at, updated_at)
            SELECT gen_random_uuid(), 'group ' || g, '', NULL, now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [groups],
        )
        execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_groups (idx int PRIMARY KEY, id uuid)")
        execute("TRUNCATE bench_groups")
        execute("INSERT INTO bench_groups SELECT row_number() OVER (ORDER BY id) - 1, id FROM groups")
        execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_users (idx int PRIMARY KEY, id uuid)")
        execute("TRUNCATE bench_users")
        execute("INSERT INTO bench_users SELECT row_number() OVER (ORDER BY id) - 1, id FROM users")
        execute(
            """
            INSERT INTO group_members (group_id, user_id, role, joined_at, joined_position)
            SELECT DISTINCT ON (bg.id, bu.id) bg.id, bu.id,
                   CASE WHEN k = 0 THEN 'owner' ELSE 'member' END, now(), 0
            FROM bench_groups bg
            CROSS JOIN generate_series(0, %(size)s - 1) AS k
            JOIN bench_users bu ON bu.idx = (bg.idx * 7919 + k * 104729) %% %(users)s
            """,
            {"size": args.group_size, "users": args.users},
        )
        execute(
            """
            INSERT INTO group_messages (id, group_id, sender_id, encrypted_content, crypto_version,
                                        encryption_algorithm, client_message_id, attachment_ids,
                                        created_at, stream_position)
            SELECT gen_random_uuid(), bg.id, NULL, convert_to(repeat(md5(j::text), 4), 'UTF8'),
                   '1', 'x25519-aes-256-gcm', NULL, '[]'::jsonb,
                   timestamptz '2025-01-01' + j * interval '1 second',
                   4 * (j * (%(n)s / %(gm)s)) + 1
            FROM generate_series(1, %(gm)s) AS j
            JOIN bench_groups bg ON bg.idx = j %% %(groups)s
            """,
            {"n": n, "gm": args.group_messages, "groups": groups},
        )
        execute(
            """
            INSERT INTO group_message_keys (message_id, user_id, encrypted_session_key, stream_position)
            SELECT gm.id, m.user_id, convert_to(md5(m.user_id::text), 'UTF8'), gm.stream_position
            FROM group_messages gm JOIN group_members m ON m.group_id = gm.group_id
            """
        )

    with Timer("conversation rows (two per pair, the last message of each)"):
        execute(
            """
            CREATE UNLOGGED TABLE bench_last AS
            SELECT DISTINCT ON (conversation_key) conversation_key, id, sender_id, recipient_id,
                   stream_position, created_at
            FROM messaging_message ORDER BY conversation_key, stream_position DESC
            """
        )
        execute(
            """
            INSERT INTO messaging_conversation (owner_id, peer_id, last_message_id, last_position, updated_at)
            SELECT l.sender_id, l.recipient_id, l.id, l.stream_position, l.created_at FROM bench_last l
            UNION ALL
            SELECT l.recipient_id, l.sender_id, l.id, l.stream_position, l.created_at FROM bench_last l
            """
        )
        execute("DROP TABLE bench_last")
    execute(
        "INSERT INTO core_stream_counter (name, value) VALUES ('events', %s)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [4 * n + 4],
    )
    log("re-creating indexes and constraints")
    restore_schema_extras(constraints, indexes)
    with Timer("ANALYZE"):
        execute("ANALYZE")
    execute("DROP TABLE bench_pairs, bench_groups, bench_users")


# --- Explaining -------------------------------------------------------------------------------


def table_sizes() -> None:
    log("\n== Table and index sizes")
    rows = fetchall(
        """
        SELECT c.relname, c.reltuples::bigint, pg_size_pretty(pg_relation_size(c.oid)),
               pg_size_pretty(pg_indexes_size(c.oid))
        FROM pg_class c WHERE c.relname = ANY(%s) ORDER BY c.relname
        """,
        [SEEDED_TABLES],
    )
    for name, tuples, heap, idx in rows:
        log(f"  {name:28} ~{tuples:>12,} rows  heap {heap:>8}  indexes {idx:>8}")
    rows = fetchall(
        """
        SELECT t.relname, i.relname, pg_size_pretty(pg_relation_size(i.oid))
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = ANY(%s) ORDER BY t.relname, i.relname
        """,
        [SEEDED_TABLES],
    )
    for table, index, size in rows:
        log(f"    {table:28} {index:44} {size:>8}")


def explain_endpoint(label: str, client: Client, url: str, *, pick: str) -> dict:
    """Call the endpoint, then EXPLAIN (ANALYZE, BUFFERS) each captured query that touches `pick`."""
    with CaptureQueriesContext(connection) as captured:
        started = time.monotonic()
        response = client.get(url)
        elapsed = (time.monotonic() - started) * 1000
    assert response.status_code == 200, (url, response.status_code, response.content[:500])
    body = response.json() if response["Content-Type"].startswith("application/json") else {}
    count = len(body.get("results", body.get("items", [])))
    log(
        f"\n== {label}\n   GET {url}\n   {response.status_code}, {count} items, "
        f"{len(captured.captured_queries)} queries, {elapsed:.1f} ms through Django (first call)"
    )
    for query in captured.captured_queries:
        sql = query["sql"]
        if pick not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        log(f"\n-- SQL ({query['time']} s as run):\n{sql}\n")
        plan = fetchall(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        log("\n".join(f"   {line}" for (line,) in plan))
    return body


def explain(args: argparse.Namespace) -> None:
    from accounts.models import User

    table_sizes()
    # The heaviest conversation, and the user with the most conversations.
    [(key, messages)] = (
        fetchall(
            """
        SELECT conversation_key, count(*) FROM messaging_message
        WHERE conversation_key = (SELECT conversation_key FROM messaging_message
                                  ORDER BY stream_position DESC LIMIT 1)
        GROUP BY conversation_key
        """
        )
        if args.conversation == "recent"
        else fetchall(
            """
        SELECT conversation_key, count(*) FROM messaging_message
        GROUP BY conversation_key ORDER BY count(*) DESC LIMIT 1
        """
        )
    )
    [(sender_id, recipient_id)] = fetchall(
        "SELECT sender_id, recipient_id FROM messaging_message WHERE conversation_key = %s LIMIT 1", [key]
    )
    [(busy_id, conversations)] = fetchall(
        "SELECT owner_id, count(*) FROM messaging_conversation GROUP BY owner_id ORDER BY count(*) DESC LIMIT 1"
    )
    log(
        f"\nconversation {key}: {messages:,} messages; busiest user {busy_id}: {conversations:,} conversations"
    )

    viewer = User.objects.get(pk=sender_id)
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {RefreshToken.for_user(viewer).access_token}"
    limit = 50
    first = explain_endpoint(
        "Conversation page, first (newest 50)",
        client,
        f"/api/v1/messages/conversation/{recipient_id}?limit={limit}",
        pick="messaging_message",
    )
    # A cursor deep in the history: follow `next` a few pages, then explain that page.
    url = first["next"]
    for _ in range(args.deep_pages - 1):
        url = client.get(url).json()["next"]
    explain_endpoint(
        f"Conversation page by cursor ({args.deep_pages} pages back)",
        client,
        url.replace("http://testserver", ""),
        pick="messaging_message",
    )

    busy = User.objects.get(pk=busy_id)
    busy_client = Client()
    busy_client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {RefreshToken.for_user(busy).access_token}"
    explain_endpoint(
        "Conversations list (the busiest user's 50 most recent)",
        busy_client,
        "/api/v1/messages/conversations?limit=50",
        pick="messaging_",
    )

    moderator, _ = User.objects.get_or_create(
        username="bench_moderator",
        defaults={"email": "bench_moderator@example.com", "is_staff": True, "is_superuser": True},
    )
    admin_client = Client()
    admin_client.force_login(moderator)
    explain_endpoint(
        "Admin: the messages changelist (newest first, metadata only)",
        admin_client,
        "/admin/messaging/message/",
        pick="messaging_message",
    )

    [(current,)] = fetchall("SELECT value FROM core_stream_counter WHERE name = 'events'")
    member_id = fetchall("SELECT user_id FROM group_members ORDER BY user_id LIMIT 1")[0][0]
    for label, user, since in (
        ("/sync for the busiest user, away for the last 0.5% of the stream", busy, int(current * 0.995)),
        (
            "/sync for a group member, away for the last 0.5% of the stream",
            User.objects.get(pk=member_id),
            int(current * 0.995),
        ),
    ):
        sync_client = Client()
        sync_client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {RefreshToken.for_user(user).access_token}"
        explain_endpoint(label, sync_client, f"/api/v1/sync?since=s{since}&limit=100", pick="FROM")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=None, help="default: messages / 200")
    parser.add_argument("--pairs", type=int, default=None, help="default: messages / 20")
    parser.add_argument(
        "--event-share",
        type=float,
        default=1.0,
        help="share of the newest reads that get their two sync events (default all)",
    )
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--group-size", type=int, default=20)
    parser.add_argument("--group-messages", type=int, default=None, help="default: messages / 50")
    parser.add_argument("--deep-pages", type=int, default=20)
    parser.add_argument("--conversation", choices=["heaviest", "recent"], default="heaviest")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--explain-only", action="store_true")
    args = parser.parse_args()
    args.users = args.users or max(1000, args.messages // 200)
    args.pairs = args.pairs or max(2000, args.messages // 20)
    args.group_messages = args.group_messages or max(1000, args.messages // 50)

    if settings.DATABASE_VENDOR != "postgresql":
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is emptied).")
    name = settings.DATABASES["default"]["NAME"]
    log(f"database {name}; {args.messages:,} messages, {args.users:,} users, {args.pairs:,} pairs")
    if not args.explain_only:
        if "bench" not in name:
            sys.exit(f"Refusing to empty {name!r}: seed only a database whose name contains 'bench'.")
        started = time.monotonic()
        call_command("migrate", verbosity=0)
        seed(args)
        log(f"seeded in {time.monotonic() - started:.0f} s")
    explain(args)


if __name__ == "__main__":
    main()
