"""GET /messages/conversations: the other user, the last message, the unread count."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_lists_conversations_most_recent_first_with_unread_counts(send, client_for, user, make_user):
    ann, bob = make_user(username="ann"), make_user(username="bob")
    send(ann, user)
    send(ann, user)
    to_bob = send(user, bob)
    from_ann = send(ann, user)
    send(bob, user, client_message_id=None)
    last_from_bob = send(bob, user)
    client_for(user).put(f"/api/v1/messages/{from_ann['id']}/read")

    rows = client_for(user).get("/api/v1/messages/conversations").json()["results"]
    assert [row["user"]["username"] for row in rows] == ["bob", "ann"]
    bob_row, ann_row = rows
    assert bob_row["last_message"]["id"] == last_from_bob["id"]
    assert bob_row["unread_count"] == 2
    assert ann_row["last_message"]["id"] == from_ann["id"]
    assert ann_row["last_message"]["is_read"] is True
    assert ann_row["unread_count"] == 2  # the two earlier ones
    assert set(bob_row["user"]) >= {"id", "username", "full_name", "public_key"}
    assert "email" not in bob_row["user"]

    # Bob's own view: one conversation, nothing unread (his own messages are not unread to him).
    [mine] = client_for(bob).get("/api/v1/messages/conversations").json()["results"]
    assert mine["user"]["id"] == str(user.pk)
    assert mine["unread_count"] == 1  # to_bob
    assert mine["last_message"]["id"] == last_from_bob["id"]
    assert to_bob["id"]


def test_a_tombstone_is_not_unread(send, client_for, user, other_user):
    message = send(other_user, user)
    client_for(other_user).delete(f"/api/v1/messages/{message['id']}?scope=everyone")
    [row] = client_for(user).get("/api/v1/messages/conversations").json()["results"]
    assert row["unread_count"] == 0
    assert row["last_message"]["is_deleted"] is True


def test_no_conversations_is_an_empty_list(user_client):
    assert user_client.get("/api/v1/messages/conversations").json() == {
        "next": None,
        "previous": None,
        "results": [],
    }


def test_the_list_is_paginated(send, client_for, user, make_user):
    for _ in range(3):
        send(make_user(), user)
    page = client_for(user).get("/api/v1/messages/conversations?limit=2").json()
    assert len(page["results"]) == 2
    rest = client_for(user).get(page["next"]).json()
    assert len(rest["results"]) == 1


def count_queries(client, django_assert_max_num_queries) -> tuple[int, int]:
    with django_assert_max_num_queries(100) as captured:
        response = client.get("/api/v1/messages/conversations?limit=100")
    assert response.status_code == 200
    return len(captured.captured_queries), len(response.json()["results"])


def test_the_same_number_of_queries_for_1_and_for_50_conversations(
    send, client_for, user, make_user, django_assert_max_num_queries
):
    client = client_for(user)
    send(make_user(), user)
    one, listed = count_queries(client, django_assert_max_num_queries)
    assert listed == 1
    for n in range(49):
        peer = make_user()
        send(peer, user) if n % 2 else send(user, peer)
    fifty, listed = count_queries(client, django_assert_max_num_queries)
    assert listed == 50
    assert one == fifty <= 4
