"""GET /sync?since=: every change after a token, each exactly once, oldest first."""

from __future__ import annotations

import base64

import pytest

from groups import services as group_services
from messaging.models import Message
from messaging.selectors import sync_page
from tests.groups.helpers import keys_for, wrapped_key

pytestmark = pytest.mark.django_db


def sync(client, since=None, **params):
    query = {"since": since, **params} if since is not None else params
    response = client.get("/api/v1/sync", query)
    assert response.status_code == 200, response.content
    return response.json()


def test_without_since_a_fresh_token_and_nothing_else(send, client_for, user, other_user):
    send(other_user, user)
    body = sync(client_for(user))
    assert body["items"] == []
    assert body["has_more"] is False
    assert isinstance(body["next_since"], str) and body["next_since"]


def test_after_the_last_token_five_messages_a_read_and_a_deletion_come_back_once(
    send, client_for, user, other_user
):
    client = client_for(user)
    send(other_user, user)  # before the token: never returned
    token = sync(client)["next_since"]

    received = [send(other_user, user) for _ in range(3)]
    sent = [send(user, other_user) for _ in range(2)]
    client_for(other_user).put(f"/api/v1/messages/{sent[0]['id']}/read")
    client_for(other_user).delete(f"/api/v1/messages/{received[1]['id']}?scope=everyone")

    body = sync(client, token)
    items = body["items"]
    assert [(item["type"], item["data"]["id"]) for item in items] == [
        ("message.new", received[0]["id"]),
        ("message.new", received[1]["id"]),
        ("message.new", received[2]["id"]),
        ("message.new", sent[0]["id"]),
        ("message.new", sent[1]["id"]),
        ("message.read", sent[0]["id"]),
        ("message.deleted", received[1]["id"]),
    ]
    assert body["has_more"] is False
    assert items[0]["data"]["encrypted_content"] == received[0]["encrypted_content"]
    assert items[0]["data"]["sender_encrypted_session_key"] is None
    assert items[3]["data"]["sender_encrypted_session_key"] == sent[0]["sender_encrypted_session_key"]
    assert items[1]["data"]["is_deleted"] is True  # rendered as it is now: a tombstone
    assert items[5]["data"]["read_at"] is not None
    assert items[6]["data"]["scope"] == "everyone"

    again = sync(client, body["next_since"])
    assert again["items"] == []
    assert again["next_since"] == body["next_since"]


def test_paging_with_a_small_limit_returns_each_item_once(send, client_for, user, other_user):
    client = client_for(user)
    token = sync(client)["next_since"]
    messages = [send(other_user, user) if n % 3 else send(user, other_user) for n in range(11)]
    for message in messages[:4]:
        if message["recipient_id"] == str(user.pk):
            client.put(f"/api/v1/messages/{message['id']}/read")
    client.delete(f"/api/v1/messages/{messages[5]['id']}?scope=me")

    collected = []
    while True:
        body = sync(client, token, limit=3)
        collected += [(item["type"], item["data"]["id"], item["data"].get("scope")) for item in body["items"]]
        token = body["next_since"]
        if not body["has_more"]:
            break
    news = [entry[1] for entry in collected if entry[0] == "message.new"]
    assert news == [m["id"] for i, m in enumerate(messages) if i != 5]  # hidden for me: not offered
    assert len(collected) == len(set(collected))
    reads = [entry[1] for entry in collected if entry[0] == "message.read"]
    assert reads == [m["id"] for m in messages[:4] if m["recipient_id"] == str(user.pk)]
    assert ("message.deleted", messages[5]["id"], "me") in collected
    assert sync(client, token)["items"] == []


def test_paging_one_source_past_the_limit_loses_nothing(send, client_for, user, other_user):
    """Seven received messages and nothing else, three at a time: each page is cut inside one
    source, and the token must stop at the cut, not jump to the end of the stream."""
    client = client_for(user)
    token = sync(client)["next_since"]
    received = [send(other_user, user)["id"] for _ in range(7)]
    collected = []
    for _ in range(10):
        body = sync(client, token, limit=3)
        collected += [item["data"]["id"] for item in body["items"]]
        token = body["next_since"]
        if not body["has_more"]:
            break
    assert collected == received


def test_the_peer_does_not_learn_of_my_delete_for_me(send, client_for, user, other_user):
    message = send(user, other_user)
    token = sync(client_for(other_user))["next_since"]
    client_for(user).delete(f"/api/v1/messages/{message['id']}?scope=me")
    assert sync(client_for(other_user), token)["items"] == []


def test_an_outsider_syncs_nothing_of_others(send, client_for, user, other_user, make_user):
    outsider = client_for(make_user())
    token = sync(outsider)["next_since"]
    message = send(user, other_user)
    client_for(other_user).put(f"/api/v1/messages/{message['id']}/read")
    client_for(user).delete(f"/api/v1/messages/{message['id']}?scope=everyone")
    assert sync(outsider, token)["items"] == []


@pytest.mark.parametrize("token", ["garbage", "s", "s-1", "12", "s1x", "s" + "9" * 30])
def test_a_bad_token_is_400(user_client, token):
    response = user_client.get("/api/v1/sync", {"since": token})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_sync_token"


@pytest.mark.parametrize("limit", ["0", "501", "x"])
def test_a_bad_limit_is_400(user_client, limit):
    response = user_client.get("/api/v1/sync", {"since": "s0", "limit": limit})
    assert response.status_code == 400


def test_the_token_is_a_database_position_so_it_survives_restarts(send, client_for, user, other_user):
    """Nothing lives in the process: a token works against a fresh selector call with only the
    database behind it (what a restarted server has)."""
    client = client_for(user)
    token = sync(client)["next_since"]
    message = send(other_user, user)
    page = sync_page(user_id=user.pk, since=int(token[1:]), limit=10)
    assert [entry.obj.pk for entry in page.entries] == [Message.objects.get(pk=message["id"]).pk]


def group_send(client, group, members, content: bytes):
    body = {
        "encrypted_content": base64.b64encode(content).decode(),
        "encrypted_session_keys": keys_for([m.pk for m in members]),
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes256gcm",
    }
    response = client.post(f"/api/v1/groups/{group.pk}/messages", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_one_to_one_and_group_messages_a_read_and_a_deletion_come_back_once_in_stream_order(
    send, client_for, user, other_user, make_user
):
    """The Must-show of issue 5 with groups in the stream (issue 6): five messages (three 1:1,
    two group), a read and a deletion after the client's last token, each exactly once, oldest
    first; then nothing."""
    client, ann = client_for(user), make_user()
    members = [user, other_user, ann]
    group = group_services.group_create(creator_id=ann.pk, name="g", member_ids=[user.pk, other_user.pk])
    elsewhere = group_services.group_create(creator_id=ann.pk, name="not mine", member_ids=[other_user.pk])
    send(other_user, user)
    group_send(client_for(ann), group, members, b"before the token")
    token = sync(client)["next_since"]

    received = send(other_user, user)
    in_group = group_send(client_for(ann), group, members, b"from ann")
    sent = send(user, other_user)
    group_send(client_for(ann), elsewhere, [ann, other_user], b"not for user")
    own_in_group = group_send(client, group, members, b"from me")
    client_for(other_user).put(f"/api/v1/messages/{sent['id']}/read")
    later = send(other_user, user)
    client_for(other_user).delete(f"/api/v1/messages/{later['id']}?scope=everyone")

    body = sync(client, token)
    assert [(item["type"], item["data"]["id"]) for item in body["items"]] == [
        ("message.new", received["id"]),
        ("group.message.new", in_group["id"]),
        ("message.new", sent["id"]),
        ("group.message.new", own_in_group["id"]),
        ("message.read", sent["id"]),
        ("message.new", later["id"]),
        ("message.deleted", later["id"]),
    ]
    assert body["has_more"] is False
    group_item = body["items"][1]["data"]
    assert group_item["group_id"] == str(group.pk)
    assert group_item["encrypted_content"] == base64.b64encode(b"from ann").decode()
    assert group_item["encrypted_session_key"] == wrapped_key(user.pk)  # the caller's own key only
    assert "encrypted_session_keys" not in group_item
    # The same item as the group's history renders it for this user.
    history = client.get(f"/api/v1/groups/{group.pk}/messages").json()["results"]
    assert group_item in history

    again = sync(client, body["next_since"])
    assert again == {"items": [], "next_since": body["next_since"], "has_more": False}

    # Page by page with the smallest limit: the same items, each once, in the same order.
    collected, since = [], token
    while True:
        page = sync(client, since, limit=1)
        collected += [(item["type"], item["data"]["id"]) for item in page["items"]]
        since = page["next_since"]
        if not page["has_more"]:
            break
    assert collected == [(item["type"], item["data"]["id"]) for item in body["items"]]
    assert sync(client, since)["items"] == []


def test_group_messages_in_sync_follow_membership(send, client_for, user, make_user):
    """Joined later: only messages from the joining on. Left: nothing more, at once."""
    owner = make_user()
    group = group_services.group_create(creator_id=owner.pk, name="g")
    client = client_for(user)
    token = sync(client)["next_since"]
    group_send(client_for(owner), group, [owner], b"before user joined")
    group_services.group_member_add(group_id=group.pk, actor_id=owner.pk, user_id=user.pk)
    after = group_send(client_for(owner), group, [owner, user], b"after")
    assert [item["data"]["id"] for item in sync(client, token)["items"]] == [after["id"]]

    group_services.group_member_remove(group_id=group.pk, actor_id=user.pk, user_id=user.pk)
    group_send(client_for(owner), group, [owner], b"after user left")
    assert sync(client, token)["items"] == []

    # Added back: only what is sent from the new joining on (the first stint's keys stay out).
    group_services.group_member_add(group_id=group.pk, actor_id=owner.pk, user_id=user.pk)
    back = group_send(client_for(owner), group, [owner, user], b"back again")
    assert [item["data"]["id"] for item in sync(client, token)["items"]] == [back["id"]]


def test_a_token_ahead_of_the_stream_is_400_not_a_silent_stall(user_client):
    current = int(sync(user_client)["next_since"][1:])
    response = user_client.get("/api/v1/sync", {"since": f"s{current + 1000}"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_sync_token"
    assert sync(user_client, f"s{current}")["items"] == []
