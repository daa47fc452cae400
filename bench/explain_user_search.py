"""EXPLAIN (ANALYZE, BUFFERS) of GET /users/search at a million users, on PostgreSQL.

Seeds N users (default 1,000,000) into the database DATABASE_URL names with one
`INSERT ... SELECT generate_series(...)` (no ORM row by row), ANALYZEs, then runs the search the
way the endpoint does (accounts.selectors.user_search + the view's cursor paginator, first page)
and prints the plan of the exact SQL it sent, for a 2-character prefix (the worst case the API
allows), a longer prefix, a full-name prefix and an exact email.

Use a scratch database, never a shared one (the script migrates it and fills the users table):

    createdb -h 127.0.0.1 -U postgres messenger_acc_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/messenger_acc_bench \\
        .venv/bin/python bench/explain_user_search.py            # --users 1000000 --reseed
    dropdb -h 127.0.0.1 -U postgres messenger_acc_bench

The data: usernames `<word><n>` over 200 words, full names "<first> <last>" over 100 x 100
names, about 2% of the accounts inactive (banned or deleted), emails `<username>@example.com`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings")
os.environ.setdefault("DEBUG", "1")  # a local script: the production guard does not apply

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.test import APIRequestFactory, force_authenticate  # noqa: E402

from accounts.api import UserSearchView  # noqa: E402
from accounts.models import User  # noqa: E402


def _names(text: str) -> list[str]:
    return text.split()


WORDS = _names(
    "alpha amber angel apex arrow aspen atlas aurora autumn azure badger bamboo baron basil beacon "
    "bear birch blaze bloom blue bolt boulder bravo breeze brook buffalo cactus canyon cedar charm "
    "cherry cinder citrus clover cobalt comet coral cosmic cotton coyote crane crimson crystal cyber "
    "dagger daisy dawn delta desert dingo dolphin dragon drift dune eagle echo ember emerald falcon "
    "fern fiesta flame flint forest fox frost galaxy garnet gecko ghost ginger glacier gold granite "
    "gravity hawk hazel heron hickory honey hunter ice indigo iris iron ivory jade jaguar jasper "
    "jazz juniper karma kestrel kiwi koala lagoon lark lava lemon leopard lilac lime lion lotus lunar "
    "lynx magma mango maple marble meadow mercury meteor mint mirage mist moon moss nebula neon "
    "nova oak oasis ocean olive omega onyx opal orbit orchid otter panda panther pearl pebble "
    "pepper phoenix pine pixel planet plasma plum polar poppy prism puma quartz quill rabbit "
    "radar rain raven reef ridge river robin rocket rose ruby rust sable saffron sage salmon "
    "sand sapphire saturn shadow shark sierra silver sky slate smoke snow solar sparrow spruce "
    "star stone storm sugar summit sun swift tango thunder tiger timber topaz tulip tundra "
    "turbo valley velvet venus violet viper volcano walnut wave willow wind wolf zen zephyr"
)[:200]
FIRST = _names(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty "
    "Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua "
    "Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Timothy Deborah Ronald "
    "Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy "
    "Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott "
    "Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra "
    "Frank Rachel Patrick Carolyn Raymond Janet Jack Alice Dennis Maria Jerry Heather"
)[:100]
LAST = _names(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers "
    "Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson "
    "Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo "
    "Sanders Patel Myers Long Ross Foster"
)[:100]


def seed(n: int) -> None:
    """One INSERT ... SELECT over generate_series: under a minute for a million rows here."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE users CASCADE")
        cursor.execute(
            """
            INSERT INTO users (
                id, password, last_login, is_superuser, email, username, public_key, is_active,
                is_verified, is_staff, role, full_name, avatar_url, bio, last_seen, date_joined,
                updated_at, banned_at, ban_reason, deleted_at)
            SELECT gen_random_uuid(), '!', NULL, false,
                   s.username || '@example.com', s.username, '', mod(s.i, 50) <> 0,
                   true, false, 'user', s.full_name, '', '', NULL, now(), now(),
                   NULL, '', NULL
            FROM (
                SELECT i,
                       w.words[1 + mod(hashint, cardinality(w.words))] || i AS username,
                       w.first[1 + mod(hashint / 7, cardinality(w.first))] || ' ' ||
                       w.last[1 + mod(hashint / 701, cardinality(w.last))] AS full_name
                FROM (
                    SELECT i, (hashtext(i::text)::bigint & 2147483647) AS hashint
                    FROM generate_series(1, %(n)s) AS i
                ) AS g,
                (SELECT %(words)s::text[] AS words, %(first)s::text[] AS first, %(last)s::text[] AS last) AS w
            ) AS s
            """,
            {"n": n, "words": WORDS, "first": FIRST, "last": LAST},
        )
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        # The steady state of a live table: hint bits set, visibility map built, statistics fresh.
        cursor.execute("VACUUM ANALYZE users")


def user_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM users")
        return cursor.fetchone()[0]


def endpoint_sql(params: dict[str, str]) -> tuple[dict, list[tuple[str, tuple]]]:
    """GET /users/search through the real view (authenticated without a query), and every SQL
    statement it sent with its parameters."""
    request = APIRequestFactory().get("/api/v1/users/search", params, HTTP_HOST="127.0.0.1")
    force_authenticate(request, user=User(pk=uuid.uuid4(), username="bench"))
    captured: list[tuple[str, tuple]] = []

    def capture(execute, sql, sql_params, many, context):
        captured.append((sql, tuple(sql_params or ())))
        return execute(sql, sql_params, many, context)

    with connection.execute_wrapper(capture):
        response = UserSearchView.as_view()(request)
    assert response.status_code == 200, response.data
    return response.data, captured


def explain(params: dict[str, str], label: str) -> dict:
    body, statements = endpoint_sql(params)
    endpoint_sql(params)  # warm, as a live server would be
    started = time.perf_counter()
    endpoint_sql(params)
    wall_ms = (time.perf_counter() - started) * 1000
    print(
        f"\n=== {label}: {len(body['results'])} result(s), {len(statements)} statement(s), "
        f"{wall_ms:.1f} ms for the whole view (Python included)"
    )
    for sql, sql_params in statements:
        with connection.cursor() as cursor:
            print(cursor.mogrify(sql, sql_params) if hasattr(cursor, "mogrify") else sql)
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, sql_params)
            print("\n".join(line for (line,) in cursor.fetchall()))
    return body


def sample_email() -> str:
    """The active account whose username sorts last: the worst case for a username-ordered walk."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT email FROM users WHERE is_active ORDER BY username DESC LIMIT 1")
        return cursor.fetchone()[0]


def indexes() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef, pg_size_pretty(pg_relation_size(indexname::regclass)) "
            "FROM pg_indexes WHERE tablename = 'users' ORDER BY indexname"
        )
        print("\nIndexes on users:")
        for name, definition, size in cursor.fetchall():
            print(f"  {name} ({size}): {definition}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--reseed", action="store_true", help="seed again even if the table is full")
    parser.add_argument("--query", action="append", help="search terms (default: a set of typical ones)")
    args = parser.parse_args()

    if settings.DATABASE_VENDOR != "postgresql":
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (see the module docstring).")
    name = settings.DATABASES["default"]["NAME"]
    if "bench" not in name:
        sys.exit(f"Refusing to seed {name!r}: use a scratch database whose name contains 'bench'.")

    call_command("migrate", verbosity=0)
    if args.reseed or user_count() != args.users:
        started = time.perf_counter()
        seed(args.users)
        print(f"Seeded {args.users:,} users in {time.perf_counter() - started:.1f} s (and ANALYZEd)")
    print(f"users: {user_count():,} rows")
    indexes()
    queries = args.query or [
        "al",  # the shortest prefix the API allows, thousands of matches
        "ma",  # the commonest two letters in this data (usernames and first names)
        "willow9",  # sorts late, matches nothing
        "walnut9",  # a username prefix that sorts late
        "jennifer",  # a first name: full-name branch
        "Jennifer Sm",
        "xq",  # nothing matches
        sample_email(),  # exact email of the account that sorts last
        "nobody@example.com",
    ]
    for q in queries:
        body = explain({"q": q}, f"q={q!r}")
        if q in ("ma", "jennifer") and body.get("next"):
            cursor = parse_qs(urlsplit(body["next"]).query)["cursor"][0]
            explain({"q": q, "cursor": cursor}, f"q={q!r}, second page")


if __name__ == "__main__":
    main()
