"""Bad input on every messaging endpoint gets a JSON error envelope (4xx), never a 500, and
changes nothing. Found by probing: cursors whose position is not a number were a 500."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.utils import timezone

from messaging.models import Message, MessageEvent, conversation_key_for
from tests.messaging.helpers import assert_envelope, b64_cursor, send_body

pytestmark = pytest.mark.django_db


BAD_CURSORS = [
    "garbage",
    b64_cursor("p=abc"),
    b64_cursor("p=1e99"),
    b64_cursor("p=nan"),
    b64_cursor("p=2026-01-01"),
    b64_cursor("p=" + "9" * 40),  # past a bigint
    b64_cursor("r=1&p=-" + "9" * 40),
    b64_cursor("o=abc"),
    b64_cursor("o=-5&p=3"),
    b64_cursor("r=x"),
]


@pytest.mark.parametrize("raw", BAD_CURSORS)
@pytest.mark.parametrize("path", ["conversation", "conversations"])
def test_a_made_up_cursor_is_400_invalid_cursor(send, client_for, user, other_user, path, raw):
    send(user, other_user)
    url = (
        f"/api/v1/messages/conversation/{other_user.pk}"
        if path == "conversation"
        else "/api/v1/messages/conversations"
    )
    response = client_for(user).get(url, {"cursor": raw})
    body = assert_envelope(response, 400, "invalid_cursor")
    assert "cursor" in body["errors"]


@pytest.mark.parametrize(("limit", "expected"), [("10000", 200), ("3", 3)])
def test_a_large_limit_is_capped(client_for, user, other_user, limit, expected):
    Message.objects.bulk_create(
        [
            Message(
                sender_id=user.pk,
                recipient_id=other_user.pk,
                conversation_key=conversation_key_for(user.pk, other_user.pk),
                encrypted_content=b"c",
                encrypted_session_key=b"k",
                crypto_version="1",
                encryption_algorithm="a",
                created_at=timezone.now(),
                stream_position=n,
            )
            for n in range(1, 231)
        ]
    )
    response = client_for(user).get(f"/api/v1/messages/conversation/{other_user.pk}", {"limit": limit})
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "", "1.5", "null"])
@pytest.mark.parametrize("path", ["/api/v1/messages/conversation/{peer}", "/api/v1/messages/conversations"])
def test_a_limit_that_is_not_a_positive_integer_is_400(client_for, user, other_user, limit, path):
    """The schema says `minimum: 1`; the server used to answer these with its default page."""
    response = client_for(user).get(path.format(peer=other_user.pk), {"limit": limit})
    body = assert_envelope(response, 400)
    assert body["errors"] == {"limit": ["A whole number of at least 1."]}


SEND_CASES: list[tuple[str, Any]] = [
    ("a JSON null body", None),
    ("a list", []),
    ("a string", "hello"),
    ("a number", 5),
    ("recipient null", {"recipient_id": None}),
    ("recipient a list", {"recipient_id": [1]}),
    ("recipient an object", {"recipient_id": {"id": 1}}),
    ("content null", {"encrypted_content": None}),
    ("content an object", {"encrypted_content": {"a": 1}}),
    ("content only padding", {"encrypted_content": "===="}),
    ("content one character", {"encrypted_content": "A"}),
    ("content not ascii", {"encrypted_content": "éééé"}),
    ("content with a newline", {"encrypted_content": "AAAA\nAAAA"}),
    ("url-safe base64", {"encrypted_content": "-_-_"}),
    ("key null", {"encrypted_session_key": None}),
    ("key empty", {"encrypted_session_key": ""}),
    ("crypto_version a list", {"crypto_version": ["1"]}),
    ("crypto_version null", {"crypto_version": None}),
    ("crypto_version a NUL", {"crypto_version": "\x00"}),
    ("algorithm huge", {"encryption_algorithm": "a" * 100_000}),
    ("attachment_ids null", {"attachment_ids": None}),
    ("attachment_ids [null]", {"attachment_ids": [None]}),
    ("attachment_ids an object", {"attachment_ids": {"a": 1}}),
    ("client_message_id a list", {"client_message_id": ["x"]}),
]


@pytest.mark.parametrize(("label", "change"), SEND_CASES, ids=[case[0] for case in SEND_CASES])
def test_send_with_bad_fields_is_400_and_stores_nothing(client_for, user, other_user, label, change):
    body = change if not isinstance(change, dict) else send_body(other_user, **change)
    response = client_for(user).post(
        "/api/v1/messages/send", json.dumps(body), content_type="application/json"
    )
    assert_envelope(response, 400)
    assert Message.objects.count() == 0


def test_send_body_past_the_request_limit_is_413(client_for, user, other_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    body = send_body(other_user, encrypted_content="A" * 200_000)
    response = client_for(user).post("/api/v1/messages/send", body, format="json")
    assert_envelope(response, 413, "payload_too_large")
    assert Message.objects.count() == 0


def test_send_body_that_is_not_json_is_400_and_a_form_is_415(client_for, user):
    client = client_for(user)
    assert_envelope(client.post("/api/v1/messages/send", "{not json", content_type="application/json"), 400)
    assert_envelope(
        client.post("/api/v1/messages/send", "a=b", content_type="application/x-www-form-urlencoded"), 415
    )


@pytest.mark.parametrize("body", [[], "x", {"up_to_id": "x"}, {"up_to_id": ["x"]}, {"up_to_id": {}}])
def test_conversation_read_with_a_bad_body_is_400_and_reads_nothing(send, client_for, user, other_user, body):
    send(other_user, user)
    response = client_for(user).put(
        f"/api/v1/messages/conversation/{other_user.pk}/read",
        json.dumps(body),
        content_type="application/json",
    )
    assert_envelope(response, 400)
    assert Message.objects.filter(read_at__isnull=False).count() == 0
    assert MessageEvent.objects.count() == 0


@pytest.mark.parametrize("scope", ["", "ME", "all", "\x00", "everyone "])
def test_delete_with_a_bad_scope_is_400_and_deletes_nothing(send, client_for, user, other_user, scope):
    message = send(user, other_user)
    response = client_for(user).delete(f"/api/v1/messages/{message['id']}", QUERY_STRING=f"scope={scope}")
    assert_envelope(response, 400)
    stored = Message.objects.get(pk=message["id"])
    assert stored.deleted_at is None and stored.sender_hidden_position is None


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/messages/not-a-uuid/read",
        "/api/v1/messages/12345/read",
        f"/api/v1/messages/{uuid.uuid4()}x/read",
        "/api/v1/messages/conversation/12/read",
    ],
)
def test_malformed_ids_in_the_path_are_a_json_404(user_client, path):
    assert_envelope(user_client.put(path, {}, format="json"), 404)


@pytest.mark.parametrize("since", ["s", "S1", "s 1", "s1.5", "s-0", "s" + "9" * 19, "x" * 5000])
def test_sync_with_a_bad_token_is_400(user_client, since):
    assert_envelope(user_client.get("/api/v1/sync", {"since": since}), 400, "invalid_sync_token")


@pytest.mark.parametrize("limit", ["0", "-1", "10000", "abc", "1.5"])
def test_sync_with_a_bad_limit_is_400(user_client, limit):
    body = assert_envelope(user_client.get("/api/v1/sync", {"since": "s0", "limit": limit}), 400)
    assert "limit" in body["errors"]


def test_an_empty_since_is_like_no_since_a_fresh_token(user_client):
    body = user_client.get("/api/v1/sync", {"since": ""}).json()
    assert body["items"] == [] and body["next_since"].startswith("s")
