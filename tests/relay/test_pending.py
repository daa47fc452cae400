"""GET /relay/pending/{userId}: only the caller's own queue, oldest first, paginated, with the
bytes as they were sent. Both stores."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from rest_framework.test import APIClient

from relay.services import envelope_queue

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("relay_store")]


def test_only_the_callers_own_queue_is_readable(queue, client_for, user, other_user):
    queue(user, other_user, b"for other_user")
    for user_id in (other_user.pk, uuid.uuid4()):  # someone's, or no one's: the same answer
        response = client_for(user).get(f"/api/v1/relay/pending/{user_id}")
        assert response.status_code == 403
        assert response.json()["code"] == "not_your_queue"
        assert "payload" not in response.content.decode()
    assert APIClient().get(f"/api/v1/relay/pending/{other_user.pk}").status_code == 401


def test_a_malformed_user_id_is_a_json_404(client_for, user):
    response = client_for(user).get("/api/v1/relay/pending/not-a-uuid")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_items_carry_the_exact_bytes_and_the_queued_fields(queue, pending, user, other_user):
    payload = os.urandom(4096)
    queued = queue(user, other_user, payload, ttl_seconds=120).json()
    page = pending(other_user)
    assert page["next"] is None and page["previous"] is None
    [item] = page["results"]
    assert base64.b64decode(item["payload"], validate=True) == payload
    assert {key: item[key] for key in queued} == queued
    assert pending(user)["results"] == []  # the sender's own queue holds nothing


def test_oldest_first_whatever_the_ttls(queue, pending, user, other_user, make_user):
    # Expiry order (short TTLs first) must not decide the order: creation does.
    third = make_user()
    ids = [
        queue(user, other_user, b"a", ttl_seconds=30 * 24 * 3600).json()["id"],
        queue(third, other_user, b"b", ttl_seconds=60).json()["id"],
        queue(user, other_user, b"c", ttl_seconds=3600).json()["id"],
        queue(third, other_user, b"d").json()["id"],
    ]
    results = pending(other_user)["results"]
    assert [item["id"] for item in results] == ids
    assert [item["created_at"] for item in results] == sorted(item["created_at"] for item in results)


def test_pages_follow_next_links_and_survive_acks_in_between(queue, client_for, user, other_user):
    ids = [queue(user, other_user, f"{n}".encode()).json()["id"] for n in range(7)]
    reader = client_for(other_user)

    seen = []
    url = f"/api/v1/relay/pending/{other_user.pk}?limit=3"
    while url:
        page = reader.get(url).json()
        assert len(page["results"]) <= 3
        seen += [item["id"] for item in page["results"]]
        for item in page["results"]:  # process, ack, follow next: the cursor still holds
            assert reader.delete(f"/api/v1/relay/{item['id']}").status_code == 204
        url = page["next"]
    assert seen == ids
    assert reader.get(f"/api/v1/relay/pending/{other_user.pk}").json()["results"] == []


def test_a_full_last_page_has_no_next(queue, pending, user, other_user):
    for n in range(4):
        queue(user, other_user, f"{n}".encode())
    first = pending(other_user, limit=2)
    assert len(first["results"]) == 2 and first["next"]
    assert pending(other_user, limit=4)["next"] is None


def test_limit_defaults_to_50_and_is_capped_at_200(pending, user, other_user):
    for n in range(205):
        envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=f"{n}".encode())
    assert len(pending(other_user)["results"]) == 50
    assert len(pending(other_user, limit=1000)["results"]) == 200


@pytest.mark.parametrize("limit", ["junk", "0", "-3", "", "null"])
def test_a_limit_that_is_not_a_positive_integer_is_400(client_for, other_user, limit):
    response = client_for(other_user).get(f"/api/v1/relay/pending/{other_user.pk}", {"limit": limit})
    assert response.status_code == 400
    assert response.json()["errors"] == {"limit": ["A whole number of at least 1."]}


def test_a_forged_cursor_is_400(client_for, user):
    response = client_for(user).get(f"/api/v1/relay/pending/{user.pk}", {"cursor": "bm90IGEgY3Vyc29y"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"cursor": ["Not a cursor this endpoint handed out."]}
