"""GET /messages/conversation/{userId}: newest first, stable cursor pages, per-user hiding."""

from __future__ import annotations

import uuid

import pytest

from tests.messaging.helpers import send_body

pytestmark = pytest.mark.django_db


def ids(page: dict) -> list[str]:
    return [message["id"] for message in page["results"]]


def test_both_sides_see_the_conversation_newest_first(send, client_for, user, other_user, make_user):
    first = send(user, other_user)
    second = send(other_user, user)
    third = send(user, other_user)
    send(user, make_user())  # another conversation stays out
    for viewer, peer in ((user, other_user), (other_user, user)):
        page = client_for(viewer).get(f"/api/v1/messages/conversation/{peer.pk}").json()
        assert ids(page) == [third["id"], second["id"], first["id"]]
        assert page["next"] is None and page["previous"] is None


def test_an_outsider_sees_nothing_of_it(send, client_for, user, other_user, make_user):
    send(user, other_user)
    outsider = client_for(make_user())
    assert outsider.get(f"/api/v1/messages/conversation/{user.pk}").json()["results"] == []
    assert outsider.get(f"/api/v1/messages/conversation/{other_user.pk}").json()["results"] == []


def test_an_unknown_user_is_an_empty_conversation(user_client):
    response = user_client.get(f"/api/v1/messages/conversation/{uuid.uuid4()}")
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_a_malformed_user_id_is_a_json_404(user_client):
    response = user_client.get("/api/v1/messages/conversation/not-a-uuid")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_recipients_read_state_is_included(send, client_for, user, other_user):
    message = send(user, other_user)
    client_for(other_user).put(f"/api/v1/messages/{message['id']}/read")
    [seen] = client_for(user).get(f"/api/v1/messages/conversation/{other_user.pk}").json()["results"]
    assert seen["is_read"] is True
    assert seen["read_at"] is not None


def test_messages_deleted_for_me_are_left_out_for_me_only(send, client_for, user, other_user):
    kept = send(user, other_user)
    hidden = send(user, other_user)
    assert client_for(other_user).delete(f"/api/v1/messages/{hidden['id']}?scope=me").status_code == 204
    assert ids(client_for(other_user).get(f"/api/v1/messages/conversation/{user.pk}").json()) == [kept["id"]]
    assert ids(client_for(user).get(f"/api/v1/messages/conversation/{other_user.pk}").json()) == [
        hidden["id"],
        kept["id"],
    ]


def test_limit_picks_the_page_size_up_to_200(send, client_for, user, other_user):
    for _ in range(3):
        send(user, other_user)
    page = client_for(user).get(f"/api/v1/messages/conversation/{other_user.pk}?limit=2").json()
    assert len(page["results"]) == 2
    assert page["next"] is not None


def test_paging_75_messages_20_at_a_time_while_others_arrive_returns_each_once_in_order(
    send, client_for, user, other_user
):
    originals = [send(user if n % 2 else other_user, other_user if n % 2 else user)["id"] for n in range(75)]
    expected = list(reversed(originals))  # newest first
    reader = client_for(other_user)

    seen: list[str] = []
    arrived: list[str] = []
    url = f"/api/v1/messages/conversation/{user.pk}?limit=20"
    while url:
        page = reader.get(url).json()
        seen += ids(page)
        # Between pages, both sides keep sending into the same conversation.
        arrived += [send(user, other_user)["id"], send(other_user, user)["id"]]
        url = page["next"]

    assert seen == expected
    assert not set(arrived) & set(seen)
    # The new ones are at the top of a fresh first page.
    fresh = ids(reader.get(f"/api/v1/messages/conversation/{user.pk}?limit=20").json())
    assert fresh[: len(arrived)] == list(reversed(arrived))


def test_previous_links_walk_back_without_repeats(send, client_for, user, other_user):
    all_ids = [send(user, other_user)["id"] for _ in range(7)]
    client = client_for(user)
    first = client.get(f"/api/v1/messages/conversation/{other_user.pk}?limit=3").json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()
    assert ids(first) == list(reversed(all_ids))[:3]
    assert ids(second) == list(reversed(all_ids))[3:6]
    assert ids(back) == ids(first)


def test_a_conversation_page_runs_at_most_three_queries(
    send, client_for, user, other_user, django_assert_max_num_queries
):
    for _ in range(30):
        send(user, other_user)
    client = client_for(user)
    with django_assert_max_num_queries(3):
        response = client.get(f"/api/v1/messages/conversation/{other_user.pk}?limit=25")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 25


def test_send_body_helper_drops_ellipsis(other_user):
    assert "client_message_id" not in send_body(other_user, client_message_id=...)


def test_a_page_with_attachments_still_runs_at_most_three_queries(
    client_for, user, other_user, django_assert_max_num_queries, settings, tmp_path
):
    from tests.support.media import upload

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    client = client_for(user)
    for n in range(10):
        media_id = upload(client, f"file {n}".encode()).json()["id"]
        body = send_body(other_user, attachment_ids=[media_id])
        assert client.post("/api/v1/messages/send", body, format="json").status_code == 201
    with django_assert_max_num_queries(3):  # auth, the page, one read of the attachments' metadata
        response = client.get(f"/api/v1/messages/conversation/{other_user.pk}?limit=25")
    assert len(response.json()["results"]) == 10
    assert all(len(message["attachments"]) == 1 for message in response.json()["results"])
