"""DELETE /messages/{id}?scope=me|everyone."""

from __future__ import annotations

import uuid

import pytest

from messaging.models import Conversation, Message
from tests.messaging.helpers import group_of

pytestmark = pytest.mark.django_db


def conversation(client, peer) -> list[dict]:
    return client.get(f"/api/v1/messages/conversation/{peer.pk}").json()["results"]


def test_the_sender_deletes_for_everyone_and_a_tombstone_stays(
    capture_events, send, client_for, user, other_user
):
    message = send(user, other_user)
    with capture_events() as sent:
        response = client_for(user).delete(f"/api/v1/messages/{message['id']}?scope=everyone")
    assert response.status_code == 204

    stored = Message.objects.get(pk=message["id"])
    assert bytes(stored.encrypted_content) == b""
    assert bytes(stored.encrypted_session_key) == b""
    assert stored.sender_encrypted_session_key is None
    assert stored.deleted_at is not None
    for viewer, peer in ((user, other_user), (other_user, user)):
        [tombstone] = conversation(client_for(viewer), peer)
        assert tombstone["id"] == message["id"]
        assert tombstone["is_deleted"] is True
        assert tombstone["encrypted_content"] is None
        assert tombstone["encrypted_session_key"] is None
        assert tombstone["sender_encrypted_session_key"] is None
        assert tombstone["attachments"] == []

    [event] = sent
    assert event["type"] == "message.deleted"
    assert set(event["groups"]) == {group_of(user), group_of(other_user)}
    assert event["data"]["id"] == message["id"]
    assert event["data"]["scope"] == "everyone"


def test_deleting_for_everyone_twice_is_quiet(capture_events, send, client_for, user, other_user):
    message = send(user, other_user)
    client_for(user).delete(f"/api/v1/messages/{message['id']}?scope=everyone")
    with capture_events() as sent:
        assert client_for(user).delete(f"/api/v1/messages/{message['id']}?scope=everyone").status_code == 204
    assert sent == []


def test_the_recipient_cannot_delete_for_everyone(send, client_for, user, other_user):
    message = send(user, other_user)
    response = client_for(other_user).delete(f"/api/v1/messages/{message['id']}?scope=everyone")
    assert response.status_code == 403
    assert response.json()["code"] == "not_sender"
    assert Message.objects.get(pk=message["id"]).deleted_at is None


@pytest.mark.parametrize("scope", ["me", "everyone"])
def test_an_outsider_gets_404_and_changes_nothing(send, client_for, user, other_user, make_user, scope):
    message = send(user, other_user)
    response = client_for(make_user()).delete(f"/api/v1/messages/{message['id']}?scope={scope}")
    assert response.status_code == 404
    stored = Message.objects.get(pk=message["id"])
    assert stored.deleted_at is None
    assert stored.sender_hidden_position is None and stored.recipient_hidden_position is None
    assert bytes(stored.encrypted_content) != b""


def test_unknown_message_is_404(user_client):
    assert user_client.delete(f"/api/v1/messages/{uuid.uuid4()}?scope=me").status_code == 404


def test_an_unknown_scope_is_400(send, client_for, user, other_user):
    message = send(user, other_user)
    response = client_for(user).delete(f"/api/v1/messages/{message['id']}?scope=nobody")
    assert response.status_code == 400
    assert "scope" in response.json()["errors"]


@pytest.mark.parametrize("side", ["sender", "recipient"])
def test_either_side_deletes_for_themself_only(capture_events, send, client_for, user, other_user, side):
    message = send(user, other_user)
    deleter, keeper = (user, other_user) if side == "sender" else (other_user, user)
    with capture_events() as sent:
        response = client_for(deleter).delete(f"/api/v1/messages/{message['id']}")  # scope=me by default
    assert response.status_code == 204
    assert conversation(client_for(deleter), keeper) == []
    assert [m["id"] for m in conversation(client_for(keeper), deleter)] == [message["id"]]
    [event] = sent
    assert event["groups"] == [group_of(deleter)]
    assert event["data"]["scope"] == "me"
    # Hidden now: deleting it again is 404 for that side.
    assert client_for(deleter).delete(f"/api/v1/messages/{message['id']}?scope=me").status_code == 404


def test_hiding_the_last_message_moves_the_conversation_list_to_the_one_before(
    send, client_for, user, other_user
):
    earlier = send(other_user, user)
    last = send(user, other_user)
    client_for(other_user).delete(f"/api/v1/messages/{last['id']}?scope=me")
    [row] = client_for(other_user).get("/api/v1/messages/conversations").json()["results"]
    assert row["last_message"]["id"] == earlier["id"]
    client_for(other_user).delete(f"/api/v1/messages/{earlier['id']}?scope=me")
    assert client_for(other_user).get("/api/v1/messages/conversations").json()["results"] == []
    # The other side still has it all.
    [row] = client_for(user).get("/api/v1/messages/conversations").json()["results"]
    assert row["last_message"]["id"] == last["id"]
    assert Conversation.objects.filter(owner=other_user, last_message__isnull=True).count() == 1
