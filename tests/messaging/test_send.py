"""POST /messages/send: validation, who may send to whom, idempotency, events, query budget."""

from __future__ import annotations

import base64
import uuid

import pytest
from django.db import connection

from messaging.events import message_payload
from messaging.models import Conversation, Message
from messaging.services import message_send
from tests.messaging.helpers import b64, group_of, send_body, work_queries
from tests.support.media import upload

# Uploads go to a temporary folder per test, as media's own tests do.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_media_storage")]

MESSAGE_FIELDS = {
    "id",
    "sender_id",
    "recipient_id",
    "encrypted_content",
    "encrypted_session_key",
    "sender_encrypted_session_key",
    "crypto_version",
    "encryption_algorithm",
    "client_message_id",
    "attachments",
    "is_read",
    "read_at",
    "is_deleted",
    "created_at",
}


def test_send_stores_the_ciphertext_and_answers_the_message(client_for, user, other_user):
    body = send_body(other_user)
    response = client_for(user).post("/api/v1/messages/send", body, format="json")

    assert response.status_code == 201
    data = response.json()
    assert set(data) == MESSAGE_FIELDS
    assert data["sender_id"] == str(user.pk)
    assert data["recipient_id"] == str(other_user.pk)
    for field in (
        "encrypted_content",
        "encrypted_session_key",
        "sender_encrypted_session_key",
        "client_message_id",
    ):
        assert data[field] == body[field]
    assert data["crypto_version"] == "1"
    assert data["attachments"] == []
    assert (data["is_read"], data["read_at"], data["is_deleted"]) == (False, None, False)

    stored = Message.objects.get(pk=data["id"])
    assert bytes(stored.encrypted_content) == base64.b64decode(body["encrypted_content"])
    assert bytes(stored.encrypted_session_key) == base64.b64decode(body["encrypted_session_key"])


def test_trailing_slash_works_too(client_for, user, other_user):
    response = client_for(user).post("/api/v1/messages/send/", send_body(other_user), format="json")
    assert response.status_code == 201


def test_the_recipient_reads_it_in_the_conversation_without_the_senders_wrapped_key(
    send, client_for, user, other_user
):
    sent = send(user, other_user)
    page = client_for(other_user).get(f"/api/v1/messages/conversation/{user.pk}").json()
    [seen] = page["results"]
    assert seen["id"] == sent["id"]
    assert seen["encrypted_content"] == sent["encrypted_content"]
    assert seen["encrypted_session_key"] == sent["encrypted_session_key"]
    assert seen["sender_encrypted_session_key"] is None  # wrapped for the sender's devices only


def test_optional_fields_may_be_left_out(client_for, user, other_user):
    body = send_body(other_user, sender_encrypted_session_key=..., client_message_id=...)
    response = client_for(user).post("/api/v1/messages/send", body, format="json")
    assert response.status_code == 201
    assert response.json()["client_message_id"] is None
    assert response.json()["sender_encrypted_session_key"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("encrypted_content", "not base64!"),
        ("encrypted_content", "abc"),  # bad padding
        ("encrypted_content", ""),
        ("encrypted_content", 12),
        ("encrypted_session_key", "%%%"),
        ("sender_encrypted_session_key", "@@@@"),
        ("crypto_version", ""),
        ("crypto_version", "x" * 33),
        ("crypto_version", "has space"),
        ("encryption_algorithm", ""),
        ("encryption_algorithm", "a" * 65),
        ("recipient_id", "not-a-uuid"),
        ("client_message_id", "nope"),
        ("attachment_ids", ["nope"]),
        ("attachment_ids", "nope"),
        ("attachment_ids", [str(uuid.uuid4()) for _ in range(11)]),
    ],
)
def test_invalid_fields_are_a_400_naming_the_field(client_for, user, other_user, field, value):
    response = client_for(user).post(
        "/api/v1/messages/send", send_body(other_user, **{field: value}), format="json"
    )
    assert response.status_code == 400
    assert any(key.split(".")[0] == field for key in response.json()["errors"])
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "field",
    ["recipient_id", "encrypted_content", "encrypted_session_key", "crypto_version", "encryption_algorithm"],
)
def test_required_fields(client_for, user, other_user, field):
    response = client_for(user).post(
        "/api/v1/messages/send", send_body(other_user, **{field: ...}), format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_ciphertext_over_the_limit_is_413_and_stores_nothing(client_for, user, other_user, settings):
    settings.MESSAGE_MAX_CIPHERTEXT_BYTES = 1024
    at_limit = client_for(user).post(
        "/api/v1/messages/send", send_body(other_user, encrypted_content=b64(b"x" * 1024)), format="json"
    )
    assert at_limit.status_code == 201
    over = client_for(user).post(
        "/api/v1/messages/send", send_body(other_user, encrypted_content=b64(b"x" * 1025)), format="json"
    )
    assert over.status_code == 413
    assert over.json()["code"] == "payload_too_large"
    assert Message.objects.count() == 1


def test_default_limit_is_64_kib(client_for, user, other_user):
    ok = client_for(user).post(
        "/api/v1/messages/send", send_body(other_user, encrypted_content=b64(b"x" * 65536)), format="json"
    )
    assert ok.status_code == 201
    over = client_for(user).post(
        "/api/v1/messages/send", send_body(other_user, encrypted_content=b64(b"x" * 65537)), format="json"
    )
    assert over.status_code == 413


def test_oversized_session_key_is_413(client_for, user, other_user, settings):
    settings.MESSAGE_MAX_KEY_BYTES = 64
    response = client_for(user).post(
        "/api/v1/messages/send", send_body(other_user, encrypted_session_key=b64(b"k" * 65)), format="json"
    )
    assert response.status_code == 413


def test_unknown_recipient_is_404(client_for, user):
    class Nobody:
        pk = uuid.uuid4()

    response = client_for(user).post("/api/v1/messages/send", send_body(Nobody), format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "recipient_not_found"
    assert Message.objects.count() == Conversation.objects.count() == 0


def test_deactivated_recipient_is_404_like_an_unknown_one(client_for, user, other_user):
    other_user.is_active = False
    other_user.save()
    response = client_for(user).post("/api/v1/messages/send", send_body(other_user), format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "recipient_not_found"
    assert Message.objects.count() == 0


def test_messaging_yourself_is_400(client_for, user):
    response = client_for(user).post("/api/v1/messages/send", send_body(user), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "cannot_message_self"


def test_unauthenticated_is_401(api_client, other_user):
    response = api_client.post("/api/v1/messages/send", send_body(other_user), format="json")
    assert response.status_code == 401
    assert Message.objects.count() == 0


def test_a_retry_with_the_same_client_message_id_returns_the_first_message(client_for, user, other_user):
    body = send_body(other_user)
    first = client_for(user).post("/api/v1/messages/send", body, format="json")
    retry = client_for(user).post(
        "/api/v1/messages/send", {**body, "encrypted_content": b64(b"a different attempt")}, format="json"
    )
    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert Message.objects.count() == 1


def test_the_same_client_message_id_from_another_sender_is_another_message(client_for, user, other_user):
    body = send_body(other_user)
    assert client_for(user).post("/api/v1/messages/send", body, format="json").status_code == 201
    back = send_body(user, client_message_id=body["client_message_id"])
    assert client_for(other_user).post("/api/v1/messages/send", back, format="json").status_code == 201
    assert Message.objects.count() == 2


def test_messages_without_client_message_id_are_never_deduplicated(client_for, user, other_user):
    for _ in range(3):
        response = client_for(user).post(
            "/api/v1/messages/send", send_body(other_user, client_message_id=None), format="json"
        )
        assert response.status_code == 201
    assert Message.objects.count() == 3


def test_send_publishes_message_new_to_recipient_and_to_the_senders_other_devices(
    capture_events, user, other_user
):
    with capture_events() as sent:
        result = message_send(
            sender_id=user.pk,
            recipient_id=other_user.pk,
            encrypted_content=b"ciphertext",
            encrypted_session_key=b"key-for-recipient",
            sender_encrypted_session_key=b"key-for-sender",
            crypto_version="1",
            encryption_algorithm="x25519-aes-256-gcm",
            client_message_id=None,
            attachment_ids=[],
            exclude_channel="specific.sending-socket",
        )
    assert result.created
    # One layer send for both sides: each user's socket gets the shared data merged with its part.
    (event,) = sent
    assert set(event["groups"]) == {group_of(user), group_of(other_user)}
    assert event["type"] == "message.new"
    to_recipient = {**event["data"], **event["per_user"][str(other_user.pk)]}
    to_sender = {**event["data"], **event["per_user"][str(user.pk)]}
    assert to_recipient["id"] == to_sender["id"] == str(result.message.id)
    assert to_recipient["encrypted_content"] == to_sender["encrypted_content"] == b64(b"ciphertext")
    assert to_recipient["sender_encrypted_session_key"] is None
    assert to_sender["sender_encrypted_session_key"] == b64(b"key-for-sender")
    assert to_recipient == message_payload(result.message, viewer_id=other_user.pk)
    assert to_sender == message_payload(result.message, viewer_id=user.pk)
    # The sending socket is skipped; its name is in no group of the recipient's.
    assert event["exclude_channel"] == "specific.sending-socket"


def test_a_retry_publishes_nothing(capture_events, send, user, other_user):
    body = send_body(other_user)
    send(user, other_user, **body)
    with capture_events() as sent:
        send(user, other_user, expect=200, **body)
    assert sent == []


def test_a_failed_send_publishes_nothing(capture_events, client_for, user, other_user):
    with capture_events() as sent:
        response = client_for(user).post(
            "/api/v1/messages/send", send_body(other_user, attachment_ids=[str(uuid.uuid4())]), format="json"
        )
    assert response.status_code == 400
    assert sent == []


def test_attachments_that_are_not_the_senders_are_400_and_store_nothing(client_for, user, other_user):
    response = client_for(user).post(
        "/api/v1/messages/send", send_body(other_user, attachment_ids=[str(uuid.uuid4())]), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_attachment"
    assert Message.objects.count() == Conversation.objects.count() == 0


def block(client_for, blocker, blocked) -> None:
    """A real block through the contacts API: `blocked` asks, `blocker` blocks."""
    contact = client_for(blocked).post("/api/v1/contacts", {"user_id": str(blocker.pk)}, format="json")
    assert contact.status_code == 201, contact.content
    response = client_for(blocker).patch(
        f"/api/v1/contacts/{contact.json()['id']}", {"status": "blocked"}, format="json"
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("who_blocks", ["recipient", "sender"])
def test_a_block_either_way_is_403_and_stores_and_publishes_nothing(
    capture_events, client_for, user, other_user, who_blocks
):
    if who_blocks == "recipient":
        block(client_for, blocker=other_user, blocked=user)
    else:
        block(client_for, blocker=user, blocked=other_user)
    with capture_events() as sent:
        response = client_for(user).post("/api/v1/messages/send", send_body(other_user), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "blocked"
    assert Message.objects.count() == Conversation.objects.count() == 0
    assert sent == []


def test_a_retry_of_a_message_sent_before_the_block_still_gets_its_answer(client_for, user, other_user):
    body = send_body(other_user)
    first = client_for(user).post("/api/v1/messages/send", body, format="json")
    block(client_for, blocker=other_user, blocked=user)
    retry = client_for(user).post("/api/v1/messages/send", body, format="json")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]
    new = client_for(user).post("/api/v1/messages/send", send_body(other_user), format="json")
    assert new.status_code == 403
    assert Message.objects.count() == 1


def test_a_pending_or_accepted_contact_is_no_block(client_for, user, other_user):
    asked = client_for(user).post("/api/v1/contacts", {"user_id": str(other_user.pk)}, format="json")
    assert asked.status_code == 201
    assert (
        client_for(user).post("/api/v1/messages/send", send_body(other_user), format="json").status_code
        == 201
    )


def test_attachments_are_granted_to_the_recipient_through_media(client_for, user, other_user, make_user):
    sender = client_for(user)
    media = [upload(sender, f"photo {n}".encode(), name=f"p{n}.txt").json() for n in range(2)]
    outsider = client_for(make_user())
    for item in media:  # before the send: only the uploader sees them
        assert client_for(other_user).get(f"/api/v1/media/{item['id']}").status_code == 404

    response = sender.post(
        "/api/v1/messages/send",
        send_body(other_user, attachment_ids=[m["id"] for m in media] + [media[0]["id"]]),
        format="json",
    )

    assert response.status_code == 201, response.content
    attachments = response.json()["attachments"]
    assert [a["id"] for a in attachments] == [m["id"] for m in media]  # a repeated id is one
    assert attachments[0]["file_name"] == "p0.txt" and attachments[0]["file_size"] == len(b"photo 0")
    assert "download_url" not in attachments[0]
    [seen] = client_for(other_user).get(f"/api/v1/messages/conversation/{user.pk}").json()["results"]
    assert seen["attachments"] == attachments
    for item in media:
        assert client_for(other_user).get(f"/api/v1/media/{item['id']}").status_code == 200
        assert client_for(other_user).get(f"/api/v1/media/{item['id']}/download").status_code == 200
        assert outsider.get(f"/api/v1/media/{item['id']}").status_code == 404


def test_someone_elses_upload_is_400_grants_nothing_and_stores_nothing(
    client_for, user, other_user, make_user
):
    third = make_user()
    theirs = upload(client_for(third), b"not yours").json()
    mine = upload(client_for(user), b"mine").json()
    response = client_for(user).post(
        "/api/v1/messages/send",
        send_body(other_user, attachment_ids=[mine["id"], theirs["id"]]),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_attachment"
    assert Message.objects.count() == 0
    # The whole send rolled back: not even the sender's own file was granted.
    assert client_for(other_user).get(f"/api/v1/media/{mine['id']}").status_code == 404
    assert client_for(other_user).get(f"/api/v1/media/{theirs['id']}").status_code == 404


@pytest.mark.django_db(transaction=True)  # no test transaction around the request: as in production
def test_send_runs_two_queries_on_postgresql(client_for, user, other_user, django_assert_max_num_queries):
    """Auth, then one statement (the block and recipient checks, the stream position, the insert,
    both conversation rows). On PostgreSQL it runs in autocommit, a transaction of its own that
    the server commits before answering: no BEGIN, no COMMIT, so the stream counter's lock is
    never held across a round trip to the app. SQLite runs the same writes as four statements
    between BEGIN and COMMIT (which Django logs too)."""
    client = client_for(user)
    client.post("/api/v1/messages/send", send_body(other_user), format="json")  # warm the counter row
    on_postgresql = connection.vendor == "postgresql"
    budget = 2 if on_postgresql else 5
    with django_assert_max_num_queries(budget if on_postgresql else budget + 2) as captured:
        response = client.post("/api/v1/messages/send", send_body(other_user), format="json")
    assert response.status_code == 201
    assert len(work_queries(captured)) == budget, work_queries(captured)
    if on_postgresql:
        statements = [query["sql"] for query in captured.captured_queries]
        assert "core_stream_counter" in statements[-1], statements


def test_conversation_summaries_follow_the_last_message(send, user, other_user):
    send(user, other_user)
    last = send(other_user, user)
    for owner, peer in ((user, other_user), (other_user, user)):
        conversation = Conversation.objects.get(owner=owner, peer=peer)
        assert str(conversation.last_message_id) == last["id"]


def test_events_wait_for_the_commit_and_a_rollback_publishes_nothing(capture_events, user, other_user):
    from django.db import transaction

    from tests.messaging.helpers import send_through_the_service

    class Abort(Exception):
        pass

    # A caller's transaction that fails after the send: the send rolls back with it.
    with capture_events() as sent, pytest.raises(Abort), transaction.atomic():
        send_through_the_service(user, other_user)
        assert sent == []  # nothing before the commit
        raise Abort
    assert sent == []
    assert Message.objects.count() == 0
    with capture_events() as sent:
        send_through_the_service(user, other_user)
    assert [event["type"] for event in sent] == ["message.new"]  # one send for both sides
    assert set(sent[0]["per_user"]) == {str(user.pk), str(other_user.pk)}
