"""Who may see and change a message: its two participants. Anyone else gets 404 from every
endpoint that takes the message's id, sees nothing of it in lists or /sync, and changes nothing
(docs/API.md: an object the caller may not see is 404, not 403)."""

from __future__ import annotations

import pytest

from messaging.models import Message, MessageEvent

pytestmark = pytest.mark.django_db


def test_an_outsider_can_neither_read_nor_change_a_message(
    capture_events, send, client_for, user, other_user, make_user
):
    message = send(user, other_user)
    reply = send(other_user, user)
    outsider = client_for(make_user())
    token = outsider.get("/api/v1/sync").json()["next_since"]
    before = list(Message.objects.order_by("pk").values())

    with capture_events() as sent:
        for response in (
            outsider.put(f"/api/v1/messages/{message['id']}/read"),
            outsider.put(f"/api/v1/messages/{reply['id']}/read"),
            outsider.delete(f"/api/v1/messages/{message['id']}?scope=me"),
            outsider.delete(f"/api/v1/messages/{message['id']}?scope=everyone"),
            outsider.put(
                f"/api/v1/messages/conversation/{user.pk}/read", {"up_to_id": reply["id"]}, format="json"
            ),
            outsider.put(
                f"/api/v1/messages/conversation/{other_user.pk}/read",
                {"up_to_id": message["id"]},
                format="json",
            ),
        ):
            assert response.status_code == 404, response.content
            assert response.json()["code"] == "message_not_found"

    # Nothing changed, nothing was announced, nothing waits in anyone's /sync.
    assert list(Message.objects.order_by("pk").values()) == before
    assert MessageEvent.objects.count() == 0
    assert sent == []
    # And nothing of it is visible to them anywhere.
    for peer in (user, other_user):
        assert outsider.get(f"/api/v1/messages/conversation/{peer.pk}").json()["results"] == []
    assert outsider.get("/api/v1/messages/conversations").json()["results"] == []
    assert outsider.get("/api/v1/sync", {"since": token}).json()["items"] == []
    # A wrong id answers exactly like an id that never existed.
    assert (
        outsider.put(f"/api/v1/messages/{message['id']}/read").json()
        == outsider.put("/api/v1/messages/00000000-0000-4000-8000-000000000000/read").json()
    )


def test_each_participant_sees_it_and_may_change_only_their_side(send, client_for, user, other_user):
    message = send(user, other_user)
    sender, recipient = client_for(user), client_for(other_user)
    assert sender.put(f"/api/v1/messages/{message['id']}/read").status_code == 403  # not theirs to mark
    assert recipient.delete(f"/api/v1/messages/{message['id']}?scope=everyone").status_code == 403
    assert recipient.put(f"/api/v1/messages/{message['id']}/read").status_code == 200
    assert sender.delete(f"/api/v1/messages/{message['id']}?scope=everyone").status_code == 204
