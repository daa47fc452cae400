"""Users table of API.md: search, profile read, profile update (self only)."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db

PUBLIC_FIELDS = {"id", "username", "full_name", "avatar_url", "bio", "last_seen", "public_key", "is_verified"}


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


def test_search_requires_authentication(api_client):
    assert search(api_client, "abc").status_code == 401
