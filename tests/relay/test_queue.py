"""POST /relay/queue: who may queue to whom, what a valid envelope is, and the per-recipient cap.
Every test runs on both stores (the `relay_store` fixture is parametrised)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta

import pytest
from rest_framework.test import APIClient

from core.events import realtime_user_group_name
from relay.selectors import envelopes_pending, envelopes_pending_count
from tests.relay.conftest import b64

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("relay_store")]


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code and body["detail"]
    return body


def test_queue_answers_the_envelope_without_its_payload(queue, user, other_user):
    before = datetime.now().astimezone()
    body = queue(user, other_user, b"\x00secret\xff").json()

    assert set(body) == {"id", "sender_id", "recipient_id", "created_at", "expires_at"}
    assert uuid.UUID(body["id"]).version == 4
    assert body["sender_id"] == str(user.pk) and body["recipient_id"] == str(other_user.pk)
    created, expires = parse(body["created_at"]), parse(body["expires_at"])
    assert abs((created - before).total_seconds()) < 300  # the server's clock, in UTC
    assert body["created_at"].endswith("Z")
    assert expires - created == timedelta(days=7)  # docs/API.md's default TTL
    [stored] = envelopes_pending(recipient_id=other_user.pk)
    assert stored.payload == b"\x00secret\xff" and str(stored.id) == body["id"]


def test_the_sender_may_queue_to_themself(queue, pending, user):
    queue(user, user, b"to my other device")
    assert [item["sender_id"] for item in pending(user)["results"]] == [str(user.pk)]


def test_the_recipient_gets_a_relay_envelope_event_and_nobody_else(
    queue, pending, user, other_user, capture_events
):
    with capture_events() as sent:
        queue(user, other_user, b"hello")
    [item] = pending(other_user)["results"]
    assert sent == [
        {"groups": [realtime_user_group_name(other_user.pk)], "type": "relay.envelope", "data": item}
    ]


def test_unauthenticated_is_401(other_user):
    response = APIClient().post(
        "/api/v1/relay/queue", {"recipient_id": str(other_user.pk), "payload": b64(b"x")}, format="json"
    )
    assert response.status_code == 401
    assert envelopes_pending_count(recipient_id=other_user.pk) == 0


@pytest.mark.parametrize("recipient", ["unknown", "inactive"])
def test_recipient_must_be_an_active_user(queue, user, make_user, recipient, capture_events):
    target = uuid.uuid4() if recipient == "unknown" else make_user(is_active=False).pk
    with capture_events() as sent:
        response = queue(user, target, expect=None)
    assert_error(response, 404, "recipient_not_found")
    assert envelopes_pending_count(recipient_id=target) == 0
    assert sent == []


MISSING = object()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"recipient_id": "not-a-uuid"}, "recipient_id"),
        ({"recipient_id": MISSING}, "recipient_id"),
        ({"payload": "not base64!"}, "payload"),
        ({"payload": "YWI"}, "payload"),  # missing padding
        ({"payload": "YW Jj"}, "payload"),
        ({"payload": ""}, "payload"),  # empty ciphertext
        ({"payload": 12}, "payload"),
        ({"payload": MISSING}, "payload"),
        ({"ttl_seconds": "soon"}, "ttl_seconds"),
        ({"ttl_seconds": 1.5}, "ttl_seconds"),
        ({"ttl_seconds": True}, "ttl_seconds"),
    ],
)
def test_malformed_input_is_400_naming_the_field(client_for, user, other_user, overrides, field):
    body = {"recipient_id": str(other_user.pk), "payload": b64(b"x"), **overrides}
    body = {key: value for key, value in body.items() if value is not MISSING}
    response = client_for(user).post("/api/v1/relay/queue", body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {field}
    assert envelopes_pending_count(recipient_id=other_user.pk) == 0


@pytest.mark.parametrize("ttl", [0, -1, 30 * 24 * 3600 + 1])
def test_ttl_outside_zero_to_max_is_400(queue, user, other_user, ttl):
    body = assert_error(queue(user, other_user, ttl_seconds=ttl, expect=None), 400, "invalid_ttl")
    assert "at most 2592000" in body["errors"]["ttl_seconds"][0]
    assert envelopes_pending_count(recipient_id=other_user.pk) == 0


@pytest.mark.parametrize(
    ("ttl", "lifetime"), [(1, 1), (30 * 24 * 3600, 30 * 24 * 3600), (None, 7 * 24 * 3600)]
)
def test_ttl_in_range_or_null_is_kept(queue, user, other_user, ttl, lifetime):
    body = queue(user, other_user, ttl_seconds=ttl).json()
    assert (parse(body["expires_at"]) - parse(body["created_at"])).total_seconds() == lifetime


def test_the_ttl_bounds_are_settings(queue, user, other_user, settings):
    settings.RELAY_MAX_TTL_SECONDS = 60
    settings.RELAY_DEFAULT_TTL_SECONDS = 30
    assert_error(queue(user, other_user, ttl_seconds=61, expect=None), 400, "invalid_ttl")
    body = queue(user, other_user).json()
    assert (parse(body["expires_at"]) - parse(body["created_at"])).total_seconds() == 30


def test_payload_over_the_cap_is_413_and_at_the_cap_is_kept(queue, user, other_user, settings):
    settings.RELAY_MAX_PAYLOAD_BYTES = 1000
    for size in (1001, 1002, 4000):
        assert_error(queue(user, other_user, b"\x01" * size, expect=None), 413, "payload_too_large")
    assert envelopes_pending_count(recipient_id=other_user.pk) == 0
    queue(user, other_user, b"\x01" * 1000)
    assert [e.payload for e in envelopes_pending(recipient_id=other_user.pk)] == [b"\x01" * 1000]


def test_the_default_payload_cap_is_64_kib(queue, user, other_user):
    largest = bytes(range(256)) * 256
    assert len(largest) == 64 * 1024
    queue(user, other_user, largest)
    assert_error(queue(user, other_user, largest + b"!", expect=None), 413, "payload_too_large")
    assert [e.payload for e in envelopes_pending(recipient_id=other_user.pk)] == [largest]


def test_past_the_cap_is_429_with_retry_after_and_nothing_queued_is_lost(
    queue, pending, user, other_user, make_user, settings, capture_events
):
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 3
    ttl = 600
    kept = [queue(user, other_user, f"kept {n}".encode(), ttl_seconds=ttl).json()["id"] for n in range(3)]

    with capture_events() as sent:
        refused = queue(make_user(), other_user, b"one too many", expect=None)
    body = assert_error(refused, 429, "relay_queue_full")
    assert "full" in body["detail"]
    # Retry-After: until the oldest envelope expires (about `ttl` from now), never 0.
    assert 1 <= int(refused["Retry-After"]) <= ttl
    assert sent == []  # a refused envelope reaches no socket
    assert [item["id"] for item in pending(other_user)["results"]] == kept

    # Another recipient's queue is not affected.
    queue(user, make_user(), b"elsewhere")


def test_retry_after_is_capped_by_its_setting(queue, user, other_user, settings):
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 1
    settings.RELAY_QUEUE_FULL_RETRY_AFTER_MAX_SECONDS = 120
    queue(user, other_user, ttl_seconds=30 * 24 * 3600)
    refused = queue(user, other_user, expect=None)
    assert refused.status_code == 429 and refused["Retry-After"] == "120"


def test_an_ack_frees_a_slot(queue, client_for, user, other_user, settings):
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 2
    first = queue(user, other_user).json()
    queue(user, other_user)
    assert queue(user, other_user, expect=None).status_code == 429
    assert client_for(other_user).delete(f"/api/v1/relay/{first['id']}").status_code == 204
    queue(user, other_user)
    assert envelopes_pending_count(recipient_id=other_user.pk) == 2


def test_the_sender_rate_is_throttled(queue, user, other_user, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "relay_queue": "2/m"}
    queue(user, other_user)
    queue(user, other_user)
    refused = queue(user, other_user, expect=None)
    assert_error(refused, 429, "throttled")
    assert int(refused["Retry-After"]) >= 1
    assert envelopes_pending_count(recipient_id=other_user.pk) == 2


def test_both_slash_forms_answer_and_get_is_405(client_for, user, other_user):
    body = {"recipient_id": str(other_user.pk), "payload": base64.b64encode(b"x").decode()}
    assert client_for(user).post("/api/v1/relay/queue/", body, format="json").status_code == 201
    response = client_for(user).get("/api/v1/relay/queue")
    assert_error(response, 405, "method_not_allowed")
