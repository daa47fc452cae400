"""Group messages: keys per member, history from joining, leaving, idempotency, fan-out, /sync."""

from __future__ import annotations

import base64
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from core.events import realtime_user_group_name
from core.stream import current_stream_position
from groups import services
from groups.models import GroupMessage, GroupMessageKey
from groups.selectors import group_ids_for_user, group_sync_items
from tests.groups.conftest import keys_for, message_body, wrapped_key

pytestmark = pytest.mark.django_db


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def history(client, group) -> list[dict]:
    response = client.get(f"/api/v1/groups/{group.pk}/messages")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_send_stores_ciphertext_and_answers_with_the_senders_own_key(make_user, make_group, send):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])

    response = send(owner, group, b"hello ciphertext")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["encrypted_content"] == b64(b"hello ciphertext")
    assert body["encrypted_session_key"] == wrapped_key(owner.pk)
    assert body["sender_id"] == str(owner.pk) and body["group_id"] == str(group.pk)
    assert body["attachments"] == [] and body["crypto_version"] == "1"
    stored = GroupMessage.objects.get(pk=body["id"])
    assert bytes(stored.encrypted_content) == b"hello ciphertext"
    assert stored.keys.count() == 2


def test_each_member_reads_only_their_own_wrapped_key(make_user, make_group, send, client_for):
    owner, ann, bob = make_user(), make_user(), make_user()
    group = make_group(owner, members=[ann, bob])
    send(owner, group, b"one")

    for user in (owner, ann, bob):
        [message] = history(client_for(user), group)
        assert message["encrypted_session_key"] == wrapped_key(user.pk)
        assert "encrypted_session_keys" not in message
        others = {wrapped_key(u.pk) for u in (owner, ann, bob) if u != user}
        assert not others & set(map(str, message.values()))


def test_keys_must_match_the_member_set_exactly_naming_the_ids(make_user, make_group, client_for):
    owner, ann, stranger = make_user(), make_user(), make_user()
    group = make_group(owner, members=[ann])
    client = client_for(owner)
    url = f"/api/v1/groups/{group.pk}/messages"

    missing = client.post(
        url, message_body(group, encrypted_session_keys=keys_for([owner.pk])), format="json"
    )
    assert missing.status_code == 400
    assert missing.json()["code"] == "invalid_recipients"
    assert str(ann.pk) in missing.json()["detail"]

    extra = client.post(
        url,
        message_body(group, encrypted_session_keys=keys_for([owner.pk, ann.pk, stranger.pk])),
        format="json",
    )
    assert extra.status_code == 400
    assert str(stranger.pk) in extra.json()["detail"]
    assert "encrypted_session_keys" in extra.json()["errors"]
    assert GroupMessage.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("encrypted_content", "not base64!!", 400),
        ("encrypted_session_keys", {"not-a-uuid": "AAAA"}, 400),
        ("encrypted_session_keys", {}, 400),
        ("encrypted_session_keys", "AAAA", 400),
        ("crypto_version", "", 400),
        ("client_message_id", "nope", 400),
        ("attachment_ids", ["nope"], 400),
    ],
)
def test_bad_input_is_a_clear_400(make_user, make_group, client_for, field, value, status):
    owner = make_user()
    group = make_group(owner)
    body = message_body(group, **{field: value})
    response = client_for(owner).post(f"/api/v1/groups/{group.pk}/messages", body, format="json")
    assert response.status_code == status
    assert any(key.split(".")[0] == field for key in response.json()["errors"])


def test_oversized_ciphertext_and_key_are_413(make_user, make_group, client_for, settings):
    settings.MESSAGE_MAX_CIPHERTEXT_BYTES = 16
    settings.MESSAGE_MAX_KEY_BYTES = 8
    owner = make_user()
    group = make_group(owner)
    client = client_for(owner)
    url = f"/api/v1/groups/{group.pk}/messages"
    assert client.post(url, message_body(group, b"x" * 17), format="json").status_code == 413
    big_key = {str(owner.pk): b64(b"k" * 9)}
    assert (
        client.post(url, message_body(group, encrypted_session_keys=big_key), format="json").status_code
        == 413
    )
    assert GroupMessage.objects.count() == 0


def test_client_message_id_makes_a_send_idempotent(make_user, make_group, send):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    client_id = str(uuid.uuid4())

    first = send(owner, group, b"once", client_message_id=client_id)
    again = send(owner, group, b"twice", client_message_id=client_id)

    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert GroupMessage.objects.count() == 1
    # Another member may use the same client id: idempotency is per sender.
    assert send(ann, group, b"mine", client_message_id=client_id).status_code == 201


def test_history_is_newest_first_and_cursor_paginated(make_user, make_group, send, client_for):
    owner = make_user()
    group = make_group(owner)
    for n in range(5):
        send(owner, group, f"m{n}".encode())
    client = client_for(owner)

    page = client.get(f"/api/v1/groups/{group.pk}/messages?limit=2").json()
    assert [m["encrypted_content"] for m in page["results"]] == [b64(b"m4"), b64(b"m3")]
    send(owner, group, b"m5")  # a new message does not shift the next page
    page2 = client.get(page["next"]).json()
    assert [m["encrypted_content"] for m in page2["results"]] == [b64(b"m2"), b64(b"m1")]


def test_a_member_added_later_sees_only_messages_from_their_joining_on(
    make_user, make_group, send, client_for
):
    owner, late = make_user(), make_user()
    group = make_group(owner)
    send(owner, group, b"before")

    services.group_member_add(group_id=group.pk, actor_id=owner.pk, user_id=late.pk)
    send(owner, group, b"after")

    assert [m["encrypted_content"] for m in history(client_for(late), group)] == [b64(b"after")]
    assert [m["encrypted_content"] for m in history(client_for(owner), group)] == [
        b64(b"after"),
        b64(b"before"),
    ]
    assert [
        item["data"]["encrypted_content"] for item in group_sync_items(user_id=late.pk, since=0, limit=50)
    ] == [b64(b"after")]


def test_a_member_who_leaves_loses_access_at_once(make_user, make_group, send, client_for):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    send(owner, group, b"while a member")
    ann_client = client_for(ann)
    assert len(history(ann_client, group)) == 1

    assert ann_client.delete(f"/api/v1/groups/{group.pk}/members/{ann.pk}").status_code == 204

    assert ann_client.get(f"/api/v1/groups/{group.pk}/messages").status_code == 404
    assert ann_client.get(f"/api/v1/groups/{group.pk}").status_code == 404
    assert send(ann, group).status_code == 404
    assert group_sync_items(user_id=ann.pk, since=0, limit=50) == []
    assert group.pk not in group_ids_for_user(user_id=ann.pk)
    assert group.pk not in [g["id"] for g in ann_client.get("/api/v1/groups").json()["results"]]
    # The rest of the group no longer needs (and may no longer give) a key for her.
    body = message_body(group)
    assert str(ann.pk) not in body["encrypted_session_keys"]
    assert send(owner, group).status_code == 201


def test_a_re_added_member_sees_only_messages_from_the_new_joining(make_user, make_group, send, client_for):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    send(owner, group, b"first stint")
    services.group_member_remove(group_id=group.pk, actor_id=owner.pk, user_id=ann.pk)
    send(owner, group, b"while away")
    services.group_member_add(group_id=group.pk, actor_id=owner.pk, user_id=ann.pk)
    send(owner, group, b"back")
    assert [m["encrypted_content"] for m in history(client_for(ann), group)] == [b64(b"back")]


def test_send_publishes_one_event_with_each_members_own_key(
    make_user, make_group, client_for, capture_events
):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    with capture_events() as sent:
        response = client_for(owner).post(
            f"/api/v1/groups/{group.pk}/messages", message_body(group), format="json"
        )
    assert response.status_code == 201
    [event] = [e for e in sent if e["type"] == "group.message.new"]
    # One publish, to each member's own group, each with that member's key only.
    assert sorted(event["groups"]) == sorted(realtime_user_group_name(u.pk) for u in (owner, ann))
    data = event["data"]
    assert data["id"] == response.json()["id"]
    assert "encrypted_session_key" not in data and "encrypted_session_keys" not in data
    keys = keys_for([owner.pk, ann.pk])
    assert event["per_user"] == {uid: {"encrypted_session_key": key} for uid, key in keys.items()}
    # What the gateway forwards to ann: the REST shape with her key only.
    assert {**data, **event["per_user"][str(ann.pk)]} == history(client_for(ann), group)[0]


def test_a_refused_send_publishes_nothing(make_user, make_group, client_for, capture_events):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    with capture_events() as sent:
        body = message_body(group, encrypted_session_keys=keys_for([owner.pk]))
        assert (
            client_for(owner).post(f"/api/v1/groups/{group.pk}/messages", body, format="json").status_code
            == 400
        )
    assert sent == []


def test_sync_items_are_oldest_first_after_since_with_own_key(make_user, make_group, send):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    other = make_group(owner)  # ann is not in this one
    first = send(owner, group, b"a").json()
    send(owner, other, b"not for ann")
    second = send(owner, group, b"b").json()

    items = group_sync_items(user_id=ann.pk, since=0, limit=50)
    assert [i["data"]["id"] for i in items] == [first["id"], second["id"]]
    assert all(i["type"] == "group.message.new" for i in items)
    assert items[0]["position"] < items[1]["position"]
    assert items[0]["data"]["encrypted_session_key"] == wrapped_key(ann.pk)
    assert [
        i["data"]["id"] for i in group_sync_items(user_id=ann.pk, since=items[0]["position"], limit=50)
    ] == [second["id"]]
    assert len(group_sync_items(user_id=ann.pk, since=0, limit=1)) == 1
    assert group_sync_items(user_id=ann.pk, since=current_stream_position(), limit=50) == []


def test_messages_get_increasing_stream_positions(make_user, make_group, send):
    owner = make_user()
    group = make_group(owner)
    ids = [send(owner, group).json()["id"] for _ in range(3)]
    positions = [GroupMessage.objects.get(pk=i).stream_position for i in ids]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert current_stream_position() == positions[-1]


def _big_group(make_user, make_group, size: int):
    owner = make_user()
    others = User.objects.bulk_create(
        [
            User(username=f"bulk{uuid.uuid4().hex[:12]}", email=f"{uuid.uuid4().hex}@example.com")
            for _ in range(size - 1)
        ]
    )
    return owner, make_group(owner, members=others)


# PostgreSQL writes the position, the message and every key in one statement; SQLite in three.
SEND_QUERY_BUDGET = 6 if connection.vendor == "postgresql" else 10


def test_sending_to_a_200_member_group_runs_a_fixed_number_of_queries(
    make_user, make_group, client_for, django_assert_max_num_queries
):
    owner, big = _big_group(make_user, make_group, 200)
    small_owner, small = _big_group(make_user, make_group, 3)
    big_body, small_body = message_body(big), message_body(small)
    assert len(big_body["encrypted_session_keys"]) == 200
    big_client, small_client = client_for(owner), client_for(small_owner)

    with django_assert_max_num_queries(SEND_QUERY_BUDGET):
        response = big_client.post(f"/api/v1/groups/{big.pk}/messages", big_body, format="json")
    assert response.status_code == 201
    assert GroupMessageKey.objects.filter(message_id=response.json()["id"]).count() == 200

    # Not merely under a budget: the same count as for a group of 3.
    with CaptureQueriesContext(connection) as big_queries:
        big_client.post(f"/api/v1/groups/{big.pk}/messages", big_body, format="json")
    with CaptureQueriesContext(connection) as small_queries:
        small_client.post(f"/api/v1/groups/{small.pk}/messages", small_body, format="json")
    assert len(big_queries) == len(small_queries)


def test_reading_history_of_a_big_group_runs_a_fixed_number_of_queries(
    make_user, make_group, client_for, send, django_assert_max_num_queries
):
    owner, big = _big_group(make_user, make_group, 200)
    for _ in range(3):
        send(owner, big)
    with django_assert_max_num_queries(4):
        assert len(history(client_for(owner), big)) == 3
