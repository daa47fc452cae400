"""The read paths build `<message>` as plain dicts (messaging.serializers.message_payload): the
bodies a client gets are pinned here field by field, in order, for each viewer and state, and
/sync's page runs a fixed number of queries whatever its size."""

from __future__ import annotations

import json
import re

import pytest

from core.rendering import iso
from messaging.models import Message
from messaging.serializers import MessageSerializer
from tests.messaging.helpers import send_body

pytestmark = pytest.mark.django_db

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
# The OpenAPI schema's order (MessageSerializer documents `<message>`).
FIELDS = list(MessageSerializer().fields)


@pytest.fixture
def local_media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


def page_of(client, peer) -> list[dict]:
    response = client.get(f"/api/v1/messages/conversation/{peer.pk}")
    assert response.status_code == 200
    # The order of the keys too: the body is text, and clients may compare it.
    results = json.loads(response.content)["results"]
    assert all(list(item) == FIELDS for item in results)
    return results


def test_each_viewer_gets_the_message_as_sent_and_only_the_sender_their_own_key(
    client_for, user, other_user, local_media
):
    from tests.media.conftest import upload

    sender = client_for(user)
    media = upload(sender, b"a picture", name="cat.png").json()
    body = send_body(other_user, attachment_ids=[media["id"]])
    sent = sender.post("/api/v1/messages/send", body, format="json").json()
    stored = Message.objects.get(pk=sent["id"])

    expected = {
        "id": sent["id"],
        "sender_id": str(user.pk),
        "recipient_id": str(other_user.pk),
        "encrypted_content": body["encrypted_content"],
        "encrypted_session_key": body["encrypted_session_key"],
        "sender_encrypted_session_key": body["sender_encrypted_session_key"],
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes-256-gcm",
        "client_message_id": body["client_message_id"],
        "attachments": [
            {
                "id": media["id"],
                "file_name": "cat.png",
                "file_type": media["file_type"],
                "file_size": len(b"a picture"),
                "sha256": media["sha256"],
                "thumbnail_url": None,
                "created_at": media["created_at"],
            }
        ],
        "is_read": False,
        "read_at": None,
        "is_deleted": False,
        "created_at": iso(stored.created_at),
    }
    assert ISO_UTC.match(expected["created_at"])
    assert sent == expected
    assert page_of(sender, other_user) == [expected]
    assert page_of(client_for(other_user), user) == [{**expected, "sender_encrypted_session_key": None}]


def test_read_and_tombstone_states_render_as_before(client_for, user, other_user, local_media):
    from tests.media.conftest import upload

    sender, recipient = client_for(user), client_for(other_user)
    media_id = upload(sender, b"gone soon").json()["id"]
    wiped = sender.post(
        "/api/v1/messages/send",
        send_body(other_user, attachment_ids=[media_id], client_message_id=None),
        format="json",
    ).json()
    read = sender.post("/api/v1/messages/send", send_body(other_user), format="json").json()
    assert recipient.put(f"/api/v1/messages/{read['id']}/read").status_code == 200
    assert sender.delete(f"/api/v1/messages/{wiped['id']}?scope=everyone").status_code == 204

    newest, oldest = page_of(recipient, user)
    read_at = Message.objects.get(pk=read["id"]).read_at
    assert newest["id"] == read["id"]
    assert (newest["is_read"], newest["read_at"]) == (True, iso(read_at))
    assert ISO_UTC.match(newest["read_at"])
    assert oldest == {
        **wiped,
        "encrypted_content": None,
        "encrypted_session_key": None,
        "sender_encrypted_session_key": None,
        "client_message_id": None,
        "attachments": [],
        "is_deleted": True,
    }


def test_a_message_with_attachments_rendered_alone_reads_their_metadata(
    client_for, user, other_user, local_media
):
    """The `message.new` event and the send's answer render one message without a page's map."""
    from messaging.serializers import message_payload
    from tests.media.conftest import upload

    sender = client_for(user)
    kept, deleted = (upload(sender, data).json()["id"] for data in (b"kept", b"deleted"))
    sent = sender.post(
        "/api/v1/messages/send", send_body(other_user, attachment_ids=[kept, deleted]), format="json"
    ).json()
    assert sender.delete(f"/api/v1/media/{deleted}").status_code == 204
    payload = message_payload(Message.objects.get(pk=sent["id"]), viewer_id=other_user.pk)
    assert [item["id"] for item in json.loads(json.dumps(payload, default=str))["attachments"]] == [kept]


def sync_queries(client, django_assert_max_num_queries) -> tuple[int, int]:
    with django_assert_max_num_queries(100) as captured:
        response = client.get("/api/v1/sync?since=s0&limit=500")
    assert response.status_code == 200
    return len(captured.captured_queries), len(response.json()["items"])


def test_a_sync_page_runs_the_same_few_queries_for_one_item_and_for_a_hundred(
    send, client_for, user, other_user, django_assert_max_num_queries
):
    from groups.models import ChatGroup
    from tests.groups.conftest import message_body

    client = client_for(user)
    send(other_user, user)
    one, items = sync_queries(client, django_assert_max_num_queries)
    assert items == 1
    group = client.post(
        "/api/v1/groups", {"name": "g", "member_ids": [str(other_user.pk)]}, format="json"
    ).json()
    for n in range(30):
        send(other_user, user)
        send(user, other_user)
        message = send(other_user, user)
        if n % 3 == 0:
            assert client.put(f"/api/v1/messages/{message['id']}/read").status_code == 200
        body = message_body(ChatGroup.objects.get(pk=group["id"]))
        assert client.post(f"/api/v1/groups/{group['id']}/messages", body, format="json").status_code == 201
    many, items = sync_queries(client, django_assert_max_num_queries)
    assert items == 1 + 30 * 4 + 10
    # auth, the stream position, received, sent, read/deleted events, group items: no query per item.
    assert one <= many <= 6
