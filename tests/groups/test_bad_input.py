"""Bad input on the groups endpoints gets a JSON envelope (4xx), never a 500, and changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from groups.models import ChatGroup, GroupMember, GroupMessage
from tests.groups.helpers import message_body
from tests.messaging.helpers import assert_envelope, b64_cursor

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",
        b64_cursor("p=abc"),
        b64_cursor("p=1e99"),
        b64_cursor("p=" + "9" * 40),
        b64_cursor("o=x"),
        b64_cursor("p=\x00"),
    ],
)
@pytest.mark.parametrize("which", ["messages", "groups"])
def test_a_made_up_cursor_is_400_invalid_cursor(make_user, make_group, client_for, send, which, raw):
    owner = make_user()
    group = make_group(owner)
    send(owner, group)
    url = f"/api/v1/groups/{group.pk}/messages" if which == "messages" else "/api/v1/groups"
    body = assert_envelope(client_for(owner).get(url, {"cursor": raw}), 400, "invalid_cursor")
    assert "cursor" in body["errors"]


@pytest.mark.parametrize(("limit", "expected"), [("10000", 5), ("2", 2)])
def test_a_large_limit_is_capped(make_user, make_group, client_for, send, limit, expected):
    owner = make_user()
    group = make_group(owner)
    for _ in range(5):
        send(owner, group)
    response = client_for(owner).get(f"/api/v1/groups/{group.pk}/messages", {"limit": limit})
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected


@pytest.mark.parametrize("limit", ["0", "-1", "x", "", "null"])
def test_a_limit_that_is_not_a_positive_integer_is_400(make_user, make_group, client_for, limit):
    owner = make_user()
    group = make_group(owner)
    for url in (f"/api/v1/groups/{group.pk}/messages", "/api/v1/groups"):
        response = client_for(owner).get(url, {"limit": limit})
        assert response.status_code == 400, url
        assert response.json()["errors"] == {"limit": ["A whole number of at least 1."]}


SEND_CASES: list[tuple[str, Any]] = [
    ("body null", None),
    ("body a list", []),
    ("keys null", {"encrypted_session_keys": None}),
    ("keys a list", {"encrypted_session_keys": []}),
    ("a key null", {"encrypted_session_keys": "OWN:null"}),
    ("a key a number", {"encrypted_session_keys": "OWN:5"}),
    ("a key not base64", {"encrypted_session_keys": "OWN:!!"}),
    ("a user id that is no uuid", {"encrypted_session_keys": {"x" * 1000: "AAAA"}}),
    ("content null", {"encrypted_content": None}),
    ("content empty", {"encrypted_content": ""}),
    ("crypto_version too long", {"crypto_version": "x" * 33}),
    ("crypto_version a NUL", {"crypto_version": "\x00"}),
    ("algorithm blank", {"encryption_algorithm": ""}),
    ("attachment_ids null", {"attachment_ids": None}),
    ("attachment_ids [7]", {"attachment_ids": [[7]]}),
    ("client_message_id a list", {"client_message_id": []}),
]


@pytest.mark.parametrize(("label", "change"), SEND_CASES, ids=[case[0] for case in SEND_CASES])
def test_group_send_with_bad_fields_is_400_and_stores_nothing(
    make_user, make_group, client_for, label, change
):
    owner = make_user()
    group = make_group(owner)
    if isinstance(change, dict):
        keys = change.get("encrypted_session_keys")
        if isinstance(keys, str) and keys.startswith("OWN:"):
            change = {
                "encrypted_session_keys": {str(owner.pk): json.loads(keys[4:]) if keys[4:] != "!!" else "!!"}
            }
        body = message_body(group, **change)
    else:
        body = change
    response = client_for(owner).post(
        f"/api/v1/groups/{group.pk}/messages", json.dumps(body), content_type="application/json"
    )
    assert_envelope(response, 400)
    assert GroupMessage.objects.count() == 0


def test_more_keys_than_the_member_cap_is_400_before_any_lookup(make_user, make_group, client_for, settings):
    settings.GROUP_MAX_MEMBERS = 5
    owner = make_user()
    group = make_group(owner)
    keys = {str(uuid.uuid4()): "AAAA" for _ in range(6)}
    response = client_for(owner).post(
        f"/api/v1/groups/{group.pk}/messages", message_body(group, encrypted_session_keys=keys), format="json"
    )
    assert_envelope(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"name": None},
        {"name": "x" * 10_000},
        {"name": "x", "description": None},
        {"name": "\x00"},
        {"name": "x", "member_ids": [None]},
        {"name": "x", "member_ids": {"a": 1}},
        {"name": "x", "member_ids": ["nope"] * 3},
    ],
)
def test_create_with_bad_input_is_400_and_creates_nothing(user_client, body):
    response = user_client.post("/api/v1/groups", json.dumps(body), content_type="application/json")
    assert_envelope(response, 400)
    assert ChatGroup.objects.count() == 0


def test_create_with_more_member_ids_than_the_cap_is_400(user_client, settings):
    settings.GROUP_MAX_MEMBERS = 10
    ids = [str(uuid.uuid4()) for _ in range(11)]
    response = user_client.post("/api/v1/groups", {"name": "x", "member_ids": ids}, format="json")
    assert_envelope(response, 400)
    assert ChatGroup.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("patch", "", None),
        ("patch", "", {"name": None}),
        ("patch", "", {"name": ""}),
        ("post", "/members", {"user_id": None}),
        ("post", "/members", {"user_id": "nope"}),
        ("post", "/members", {"user_id": "VALID", "role": "owner"}),
        ("post", "/members", {"user_id": "VALID", "role": None}),
        ("patch", "/members/MEMBER", {"role": None}),
        ("patch", "/members/MEMBER", {"role": "owner"}),
        ("patch", "/members/MEMBER", []),
        ("post", "/transfer-ownership", {"user_id": "x"}),
        ("post", "/transfer-ownership", None),
    ],
)
def test_member_and_settings_changes_with_bad_input_are_400_and_change_nothing(
    make_user, make_group, client_for, method, suffix, body
):
    owner, member, candidate = make_user(), make_user(), make_user()
    group = make_group(owner, members=[member])
    before = sorted(GroupMember.objects.filter(group=group).values_list("user_id", "role"))
    if isinstance(body, dict) and body.get("user_id") == "VALID":
        body = {**body, "user_id": str(candidate.pk)}
    url = f"/api/v1/groups/{group.pk}{suffix.replace('MEMBER', str(member.pk))}"
    response = getattr(client_for(owner), method)(url, json.dumps(body), content_type="application/json")
    assert_envelope(response, 400)
    assert sorted(GroupMember.objects.filter(group=group).values_list("user_id", "role")) == before
    group.refresh_from_db()
    assert group.name == "Team"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/groups/not-a-uuid/messages",
        "/api/v1/groups/123/members",
        "/api/v1/groups/{group}/members/not-a-uuid",
        "/api/v1/groups/{group}/members/123",
    ],
)
def test_malformed_ids_in_the_path_are_a_json_404(make_user, make_group, client_for, path):
    owner = make_user()
    group = make_group(owner)
    client = client_for(owner)
    url = path.format(group=group.pk)
    for method in ("get", "post", "patch", "delete"):
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code in (404, 405), (method, url, response.content)
        assert response.json()["code"] in ("not_found", "method_not_allowed")
