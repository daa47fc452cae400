"""Deleting a 1:1 message for everyone takes its attachments away from the recipient.

The recipient read the media through the grant the send made; the delete (the sender's, or a
moderator's) revokes that grant in its own transaction, so metadata, download and thumbnail
answer 404 to them from then on, as for anyone who was never sent it. The sender keeps their
upload. Media the recipient was also sent in another message stays readable through that one.
Every test runs on local storage and on S3 (moto), as media's own tests do.
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import connection, transaction

from media.models import MediaGrant
from messaging.models import Message
from messaging.services import message_delete
from tests.messaging.helpers import CHANGELIST, send_body, staff_client, work_queries
from tests.support.media import fetch, upload

# The media tests' storage fixtures: each test stores into its own folder, or its own S3 bucket.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("storage_kind", "media_storage")]


def photo(client) -> dict:
    """An upload with its own thumbnail (ready at once), and the bytes it holds."""
    data, thumbnail = os.urandom(4096), os.urandom(512)
    body = upload(client, data, name="photo.bin", thumbnail=thumbnail).json()
    assert body["thumbnail_url"], body
    return {**body, "data": data, "thumbnail": thumbnail}


def what_they_read(client, media: dict) -> dict[str, object]:
    """What the user gets from each of the media's routes: the bytes, or the error code."""
    seen: dict[str, object] = {}
    detail = client.get(f"/api/v1/media/{media['id']}")
    seen["metadata"] = detail.json()["sha256"] if detail.status_code == 200 else detail.json()["code"]
    for route in ("download", "thumbnail"):
        fetched = fetch(client, f"/api/v1/media/{media['id']}/{route}")
        seen[route] = fetched.body if fetched.status == 200 else (fetched.status, fetched.app.json()["code"])
    return seen


def readable(media: dict) -> dict[str, object]:
    return {"metadata": media["sha256"], "download": media["data"], "thumbnail": media["thumbnail"]}


GONE = {
    "metadata": "media_not_found",
    "download": (404, "media_not_found"),
    "thumbnail": (404, "media_not_found"),
}


def test_the_recipient_loses_the_attachment_and_the_sender_keeps_it(send, client_for, user, other_user):
    media = photo(client_for(user))
    message = send(user, other_user, attachment_ids=[media["id"]])
    assert what_they_read(client_for(other_user), media) == readable(media)

    response = client_for(user).delete(f"/api/v1/messages/{message['id']}?scope=everyone")

    assert response.status_code == 204
    assert what_they_read(client_for(other_user), media) == GONE
    assert what_they_read(client_for(user), media) == readable(media)
    # The sender may attach it again: the new message grants it anew.
    send(user, other_user, attachment_ids=[media["id"]])
    assert what_they_read(client_for(other_user), media) == readable(media)


def test_media_sent_in_two_messages_stays_readable_through_the_other(send, client_for, user, other_user):
    media = photo(client_for(user))
    first = send(user, other_user, attachment_ids=[media["id"]])
    second = send(user, other_user, attachment_ids=[media["id"]])

    client_for(user).delete(f"/api/v1/messages/{first['id']}?scope=everyone")
    assert what_they_read(client_for(other_user), media) == readable(media)
    [kept] = client_for(other_user).get(f"/api/v1/messages/conversation/{user.pk}").json()["results"][:1]
    assert kept["id"] == second["id"] and [a["id"] for a in kept["attachments"]] == [media["id"]]

    client_for(user).delete(f"/api/v1/messages/{second['id']}?scope=everyone")
    assert what_they_read(client_for(other_user), media) == GONE


def test_deleting_one_recipients_message_leaves_another_recipient_theirs(send, client_for, user, make_user):
    ann, bob = make_user(), make_user()
    media = photo(client_for(user))
    to_ann = send(user, ann, attachment_ids=[media["id"]])
    send(user, bob, attachment_ids=[media["id"]])

    client_for(user).delete(f"/api/v1/messages/{to_ann['id']}?scope=everyone")

    assert what_they_read(client_for(ann), media) == GONE
    assert what_they_read(client_for(bob), media) == readable(media)


def test_only_the_deleted_messages_attachments_go(send, client_for, user, other_user):
    sender = client_for(user)
    deleted_media, other_media = photo(sender), photo(sender)
    message = send(user, other_user, attachment_ids=[deleted_media["id"]])
    send(user, other_user, attachment_ids=[other_media["id"]])

    sender.delete(f"/api/v1/messages/{message['id']}?scope=everyone")

    assert what_they_read(client_for(other_user), deleted_media) == GONE
    assert what_they_read(client_for(other_user), other_media) == readable(other_media)


@pytest.mark.parametrize("side", ["sender", "recipient"])
def test_deleting_for_me_takes_nothing_away(send, client_for, user, other_user, side):
    media = photo(client_for(user))
    message = send(user, other_user, attachment_ids=[media["id"]])
    deleter = user if side == "sender" else other_user

    assert client_for(deleter).delete(f"/api/v1/messages/{message['id']}?scope=me").status_code == 204

    # The other side still has the message, and so the media; the one who hid it keeps what
    # they were sent too (hiding is their own view, not a retraction).
    assert what_they_read(client_for(other_user), media) == readable(media)


def test_a_moderator_delete_revokes_too(send, client_for, make_user, user, other_user):
    media = photo(client_for(user))
    message = send(user, other_user, attachment_ids=[media["id"]])

    response = staff_client(make_user, role="moderator").post(
        CHANGELIST, {"action": "delete_for_everyone", "_selected_action": [message["id"]]}
    )

    assert response.status_code == 302
    assert Message.objects.get(pk=message["id"]).deleted_at is not None
    assert what_they_read(client_for(other_user), media) == GONE
    assert what_they_read(client_for(user), media) == readable(media)


def test_staff_who_may_not_moderate_revoke_nothing(send, client_for, make_user, user, other_user):
    media = photo(client_for(user))
    message = send(user, other_user, attachment_ids=[media["id"]])
    staff_client(make_user, role="user").post(
        CHANGELIST, {"action": "delete_for_everyone", "_selected_action": [message["id"]]}
    )
    assert what_they_read(client_for(other_user), media) == readable(media)


def test_a_delete_that_rolls_back_revokes_nothing(send, client_for, user, other_user):
    media = photo(client_for(user))
    message = send(user, other_user, attachment_ids=[media["id"]])

    class Abort(Exception):
        pass

    # The caller's transaction fails after the delete: the revoke is undone with it.
    with pytest.raises(Abort), transaction.atomic():
        message_delete(user_id=user.pk, message_id=message["id"], scope="everyone")
        assert not MediaGrant.objects.filter(user=other_user).exists()  # revoked inside it
        raise Abort

    assert Message.objects.get(pk=message["id"]).deleted_at is None
    assert MediaGrant.objects.filter(user=other_user, source_id=message["id"]).count() == 1
    assert what_they_read(client_for(other_user), media) == readable(media)


def test_the_recipient_cannot_revoke_by_deleting_for_everyone(send, client_for, user, other_user):
    media = photo(client_for(user))
    message = send(user, other_user, attachment_ids=[media["id"]])
    response = client_for(other_user).delete(f"/api/v1/messages/{message['id']}?scope=everyone")
    assert response.status_code == 403 and response.json()["code"] == "not_sender"
    assert what_they_read(client_for(other_user), media) == readable(media)


# --- Query budgets: a real BEGIN/COMMIT, not a savepoint inside the test's transaction ----------


@pytest.mark.django_db(transaction=True)
def test_a_send_with_attachments_runs_a_fixed_number_of_queries(
    client_for, user, other_user, django_assert_max_num_queries
):
    """The statements of a plain send (test_send.py: 2 on PostgreSQL, 5 on SQLite), media's two (the ownership UPDATE, the grants
    INSERT, which now names the message as its source), and two reads of the attachments'
    metadata: one for both sides' events, one for the response. The same for 1 or 3 attachments."""
    client = client_for(user)
    ids = [upload(client, os.urandom(64)).json()["id"] for _ in range(3)]
    client.post("/api/v1/messages/send", send_body(other_user), format="json")  # warm the counter row
    plain = 2 if connection.vendor == "postgresql" else 5
    counts = []
    for attached in (ids[:1], ids):
        with django_assert_max_num_queries(plain + 4 + 2 + 2) as captured:  # + BEGIN/COMMIT, the savepoint
            response = client.post(
                "/api/v1/messages/send", send_body(other_user, attachment_ids=attached), format="json"
            )
        assert response.status_code == 201
        assert len(response.json()["attachments"]) == len(attached)
        counts.append(len(work_queries(captured)))
    assert counts == [plain + 4, plain + 4], counts
    assert MediaGrant.objects.filter(source_id=response.json()["id"], user=other_user).count() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attachments", [0, 1, 3])
def test_a_delete_for_everyone_runs_a_fixed_number_of_queries(
    client_for, user, other_user, django_assert_max_num_queries, attachments
):
    """Auth, the locked message, the stream position, the tombstone UPDATE, the two events; plus
    one DELETE of the message's grants when it has attachments, however many."""
    client = client_for(user)
    ids = [upload(client, os.urandom(64)).json()["id"] for _ in range(attachments)]
    message = client.post("/api/v1/messages/send", send_body(other_user, attachment_ids=ids), format="json")
    with django_assert_max_num_queries(6 + 2) as captured:
        response = client.delete(f"/api/v1/messages/{message.json()['id']}?scope=everyone")
    assert response.status_code == 204
    expected = 5 + (1 if attachments else 0)
    assert len(work_queries(captured)) == expected, work_queries(captured)
    assert not MediaGrant.objects.filter(source_id=message.json()["id"]).exists()


def test_unknown_message_revokes_nothing(send, client_for, user, other_user):
    media = photo(client_for(user))
    send(user, other_user, attachment_ids=[media["id"]])
    assert client_for(user).delete(f"/api/v1/messages/{uuid.uuid4()}?scope=everyone").status_code == 404
    assert what_they_read(client_for(other_user), media) == readable(media)
