"""Users table of docs/API.md: search, profile read, profile update (self only)."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User

pytestmark = pytest.mark.django_db

PUBLIC_FIELDS = {"id", "username", "full_name", "avatar_url", "bio", "last_seen", "public_key", "is_verified"}


INDEXES = ("users_search_username_idx", "users_search_full_name_idx", "users_email_ci_unique")


@pytest.fixture
def user(make_user):
    """The caller, with a name no search below matches (the factory's random names could)."""
    return make_user(username="caller", full_name="Quentin Caller")


def detail(user_id) -> str:
    return f"/api/v1/users/{user_id}"


# --- GET /users/{id} ------------------------------------------------------------------------------


def test_get_user_shows_public_fields_only(user_client, other_user, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        response = user_client.get(detail(other_user.pk))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_FIELDS  # no email, role or password
    assert body["id"] == str(other_user.pk)
    assert body["username"] == other_user.username


def test_get_user_unknown_inactive_and_malformed_are_404(user_client, make_user):
    inactive = make_user(is_active=False)
    for path in (detail(uuid.uuid4()), detail(inactive.pk), "/api/v1/users/not-a-uuid"):
        response = user_client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] in {"user_not_found", "not_found"}


def test_get_user_requires_authentication(api_client, other_user):
    assert api_client.get(detail(other_user.pk)).status_code == 401


# --- PUT / PATCH /users/{id} ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_user_updates_own_profile(user, user_client, method):
    body = {"full_name": "New Name", "bio": "hello", "avatar_url": "https://cdn.example.com/a.png"}
    response = getattr(user_client, method)(detail(user.pk), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["full_name"] == "New Name"
    assert response.json()["email"] == user.email  # <me>
    user.refresh_from_db()
    assert (user.full_name, user.bio, user.avatar_url) == (
        "New Name",
        "hello",
        "https://cdn.example.com/a.png",
    )


def test_update_keeps_omitted_fields_and_ignores_others(user, user_client):
    User.objects.filter(pk=user.pk).update(bio="keep me", public_key="pk1")
    response = user_client.patch(
        detail(user.pk),
        {"public_key": "pk2", "username": "hijack", "role": "admin", "email": "x@y.z"},
        format="json",
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.bio, user.public_key) == ("keep me", "pk2")
    assert user.username != "hijack" and user.role == "user" and user.email != "x@y.z"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_another_users_update_is_403(user_client, other_user, method):
    before = other_user.full_name
    response = getattr(user_client, method)(detail(other_user.pk), {"full_name": "pwned"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    other_user.refresh_from_db()
    assert other_user.full_name == before


def test_update_of_unknown_user_is_404_not_403(user_client):
    assert user_client.patch(detail(uuid.uuid4()), {"full_name": "x"}, format="json").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"avatar_url": "ftp://example.com/a.png"}, "avatar_url"),
        ({"full_name": "x" * 151}, "full_name"),
        ({"bio": "x" * 501}, "bio"),
    ],
)
def test_update_validates(user, user_client, body, field):
    response = user_client.patch(detail(user.pk), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


# --- GET /users/search ----------------------------------------------------------------------------


def search(client, q, **params):
    return client.get("/api/v1/users/search", {"q": q, **params})


def usernames(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["username"] for row in response.json()["results"]]


def test_search_prefix_on_username_and_full_name_any_case(user_client, make_user):
    make_user(username="alice", full_name="Zed One")
    make_user(username="bob", full_name="Alina Two")
    make_user(username="malice", full_name="No Match")
    assert usernames(search(user_client, "ALi")) == ["alice", "bob"]


def test_search_exact_email_only(user_client, make_user):
    make_user(username="carol", email="Carol@Example.com", full_name="C")
    assert usernames(search(user_client, "carol@example.com")) == ["carol"]
    assert usernames(search(user_client, "carol@example.co")) == []
    assert usernames(search(user_client, "example.com")) == []


def test_search_excludes_inactive_and_deleted(user_client, make_user):
    make_user(username="dave1", full_name="D")
    make_user(username="dave2", full_name="D", is_active=False)
    assert usernames(search(user_client, "dave")) == ["dave1"]


@pytest.mark.parametrize("q", ["", "a", " a "])
def test_search_under_two_characters_is_400(user_client, q):
    response = search(user_client, q)
    assert response.status_code == 400
    assert "q" in response.json()["errors"]


def test_search_without_q_is_400(user_client):
    assert user_client.get("/api/v1/users/search").status_code == 400


def test_search_treats_like_wildcards_literally(user_client, make_user):
    make_user(username="a_b_c", full_name="x")
    make_user(username="axbxc", full_name="x")
    assert usernames(search(user_client, "a_")) == ["a_b_c"]
    assert usernames(search(user_client, "%x")) == []


def test_search_is_paginated_and_bounded_in_queries(user_client, make_user, django_assert_max_num_queries):
    for n in range(25):
        make_user(username=f"page{n:02d}", full_name="P")
    with django_assert_max_num_queries(2):
        first = search(user_client, "page", limit=10)
    assert usernames(first) == [f"page{n:02d}" for n in range(10)]
    body = first.json()
    assert body["previous"] is None and body["next"]
    second = user_client.get(body["next"])
    assert usernames(second) == [f"page{n:02d}" for n in range(10, 20)]
    third = user_client.get(second.json()["next"])
    assert usernames(third) == [f"page{n:02d}" for n in range(20, 25)]
    assert third.json()["next"] is None


def test_search_ranks_email_then_username_then_full_name_without_duplicates(user_client, make_user):
    make_user(username="zed_mark", email="mark@example.com", full_name="Q")
    make_user(username="Mark2", full_name="Mark Two")  # both username and name: listed once
    make_user(username="markus", full_name="A")
    make_user(username="bob_b", full_name="mark anthony")
    make_user(username="aaa", full_name="Marky")
    assert usernames(search(user_client, "mark")) == ["Mark2", "markus", "bob_b", "aaa"]
    # An email query: the exact address first, then names that happen to start with it.
    make_user(username="odd", full_name="mark@example.com fan")
    assert usernames(search(user_client, "MARK@example.com")) == ["zed_mark", "odd"]


def walk(client, first_url: str, direction: str) -> list[list[str]]:
    pages, url = [], first_url
    while url:
        response = client.get(url)
        pages.append(usernames(response))
        url = response.json()[direction]
    return pages


def test_search_pages_forward_and_back_across_branches(user_client, make_user):
    for name in ("jo", "joan", "joe_x"):
        make_user(username=name, full_name="Someone")
    # Three people called "Jo Smith": ties on the name, kept in a stable order by id.
    twins = sorted(
        (make_user(username=f"smith{n}", full_name="Jo Smith") for n in range(3)), key=lambda u: u.pk
    )
    make_user(username="adam", full_name="Johanna")
    # by full name, byte order: "jo smith" (three times, by id) before "johanna"
    expected = ["jo", "joan", "joe_x", *[u.username for u in twins], "adam"]
    forward = walk(user_client, "/api/v1/users/search?q=jo&limit=2", "next")
    assert forward == [expected[0:2], expected[2:4], expected[4:6], expected[6:7]]
    # From the last page back to the first, through `previous`.
    last_page = user_client.get("/api/v1/users/search?q=jo&limit=2")
    for _ in range(3):
        last_page = user_client.get(last_page.json()["next"])
    assert last_page.json()["next"] is None
    backward = walk(user_client, last_page.json()["previous"], "previous")
    assert backward == [expected[4:6], expected[2:4], expected[0:2]]


@pytest.mark.parametrize("cursor", ["junk", "e30=", "eyJkIjoibiIsImIiOiJ4IiwiayI6IiIsImkiOiIxIn0="])
def test_search_refuses_a_cursor_it_did_not_issue(user_client, cursor):
    response = user_client.get("/api/v1/users/search", {"q": "ab", "cursor": cursor})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("q", ["pa", "pa@example.com"])
def test_search_page_spanning_branches_costs_one_query_per_branch(
    user_client, make_user, django_assert_max_num_queries, q
):
    make_user(username="pa_one", email="pa@example.com", full_name="X")
    for n in range(5):
        make_user(username=f"zz{n}", full_name=f"Pa {n}")
    # auth + one statement per branch that can match (username and full name, or email and full name)
    with django_assert_max_num_queries(3):
        response = search(user_client, q, limit=50)
    assert response.status_code == 200 and len(response.json()["results"]) >= 1


@pytest.mark.skipif(settings.DATABASE_VENDOR != "postgresql", reason="PostgreSQL's plans (CI runs it)")
def test_each_search_branch_is_an_ordered_range_scan_of_its_index(user_client, make_user):
    """The plan that keeps a page cheap at a million users (bench/explain_user_search.py): every
    statement the endpoint sends walks its branch's index, and nothing sorts the whole match set.
    With sequential scans and sorts priced out, a statement that no index serves still shows a
    Seq Scan or a Sort, so a query or index that stops matching the other fails here."""
    make_user(username="kim_a", email="kim@example.com", full_name="Kim One")
    for n in range(4):
        make_user(username=f"kim{n}", full_name="Kim Lee")
        make_user(username=f"other{n}", full_name="Kimberly Lee")
    second_page = search(user_client, "kim", limit=6).json()["next"]
    plans = {}
    for url in (
        "/api/v1/users/search?q=kim&limit=6",
        second_page,
        "/api/v1/users/search?q=kim@example.com",
    ):
        with CaptureQueriesContext(connection) as captured:
            assert user_client.get(url).status_code == 200
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("SET enable_sort = off")
            try:
                for query in captured.captured_queries:
                    if 'FROM "users"' not in query["sql"] or "search_key" not in query["sql"]:
                        continue  # the authentication's own lookup by primary key
                    cursor.execute("EXPLAIN " + query["sql"])
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                    plans.setdefault(url, []).append(plan)
            finally:
                cursor.execute("RESET enable_seqscan")
                cursor.execute("RESET enable_sort")
    every_plan = [plan for url_plans in plans.values() for plan in url_plans]
    assert len(every_plan) == 5  # username + full name, full name (page 2), email + full name
    for plan in every_plan:
        assert "Seq Scan" not in plan and "Sort" not in plan, plan
    used = ["".join(name for name in INDEXES if name in plan) for plan in every_plan]
    assert used == [
        "users_search_username_idx",
        "users_search_full_name_idx",
        "users_search_full_name_idx",
        "users_email_ci_unique",
        "users_search_full_name_idx",
    ]


def test_search_requires_authentication(api_client):
    assert search(api_client, "abc").status_code == 401
