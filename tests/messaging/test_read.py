"""PUT /messages/{id}/read and the conversation-wide variant."""

from __future__ import annotations

import uuid

import pytest

from messaging.models import Message
from messaging.services import message_mark_read
from tests.messaging.helpers import group_of

pytestmark = pytest.mark.django_db


def test_the_recipient_marks_it_read(send, client_for, user, other_user):
    message = send(user, other_user)
    response = client_for(other_user).put(f"/api/v1/messages/{message['id']}/read")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == message["id"]
    assert body["is_read"] is True
    assert body["read_at"] is not None
    assert Message.objects.get(pk=message["id"]).read_at is not None


def test_reading_twice_keeps_the_first_read_at_and_announces_once(
    capture_events, send, client_for, user, other_user
):
    message = send(user, other_user)
    reader = client_for(other_user)
    with capture_events() as sent:
        first = reader.put(f"/api/v1/messages/{message['id']}/read").json()
        second = reader.put(f"/api/v1/messages/{message['id']}/read/").json()
    assert first["read_at"] == second["read_at"]
    reads = [event for event in sent if event["type"] == "message.read"]
    assert len(reads) == 1
    assert set(reads[0]["groups"]) == {group_of(user), group_of(other_user)}
    assert reads[0]["data"] == {
        "id": message["id"],
        "sender_id": str(user.pk),
        "recipient_id": str(other_user.pk),
        "read_at": first["read_at"],  # the same text as REST's <message>
    }


def test_the_sender_cannot_mark_it_read(send, client_for, user, other_user):
    message = send(user, other_user)
    response = client_for(user).put(f"/api/v1/messages/{message['id']}/read")
    assert response.status_code == 403
    assert response.json()["code"] == "not_recipient"
    assert Message.objects.get(pk=message["id"]).read_at is None


def test_an_outsider_gets_404_and_changes_nothing(send, client_for, user, other_user, make_user):
    message = send(user, other_user)
    response = client_for(make_user()).put(f"/api/v1/messages/{message['id']}/read")
    assert response.status_code == 404
    assert response.json()["code"] == "message_not_found"
    assert Message.objects.get(pk=message["id"]).read_at is None


def test_an_unknown_message_is_404(user_client):
    assert user_client.put(f"/api/v1/messages/{uuid.uuid4()}/read").status_code == 404


def test_a_message_hidden_by_the_recipient_is_404_for_them(send, client_for, user, other_user):
    message = send(user, other_user)
    client_for(other_user).delete(f"/api/v1/messages/{message['id']}?scope=me")
    assert client_for(other_user).put(f"/api/v1/messages/{message['id']}/read").status_code == 404


def test_the_gateway_passes_its_socket_to_skip(capture_events, send, user, other_user):
    message = send(user, other_user)
    with capture_events() as sent:
        read = message_mark_read(
            user_id=str(other_user.pk), message_id=message["id"], exclude_channel="the.socket"
        )
    assert read.read_at is not None
    [event] = sent
    assert event["exclude_channel"] == "the.socket"


def test_reading_a_whole_conversation_up_to_a_message(send, client_for, user, other_user):
    first, second, third = (send(user, other_user) for _ in range(3))
    mine = send(other_user, user)  # the reader's own message is not theirs to mark
    reader = client_for(other_user)
    response = reader.put(
        f"/api/v1/messages/conversation/{user.pk}/read", {"up_to_id": second["id"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"read_count": 2, "read_ids": [first["id"], second["id"]]}
    assert Message.objects.get(pk=third["id"]).read_at is None
    assert Message.objects.get(pk=mine["id"]).read_at is None

    rest = reader.put(f"/api/v1/messages/conversation/{user.pk}/read", {}, format="json").json()
    assert rest == {"read_count": 1, "read_ids": [third["id"]]}
    again = reader.put(f"/api/v1/messages/conversation/{user.pk}/read", {}, format="json").json()
    assert again == {"read_count": 0, "read_ids": []}


def test_reading_up_to_a_message_of_another_conversation_is_404(
    send, client_for, user, other_user, make_user
):
    elsewhere = send(user, make_user())
    send(user, other_user)
    response = client_for(other_user).put(
        f"/api/v1/messages/conversation/{user.pk}/read", {"up_to_id": elsewhere["id"]}, format="json"
    )
    assert response.status_code == 404
