"""DELETE /relay/{messageId}: the recipient acknowledges; to anyone else the envelope does not
exist. Both stores."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("relay_store")]


def test_the_recipient_acks_and_it_is_gone(queue, pending, client_for, user, other_user):
    keep = queue(user, other_user, b"keep").json()["id"]
    done = queue(user, other_user, b"done").json()["id"]

    response = client_for(other_user).delete(f"/api/v1/relay/{done}")
    assert response.status_code == 204 and response.content == b""
    assert [item["id"] for item in pending(other_user)["results"]] == [keep]

    again = client_for(other_user).delete(f"/api/v1/relay/{done}/")
    assert again.status_code == 404 and again.json()["code"] == "envelope_not_found"


@pytest.mark.parametrize("who", ["sender", "third party"])
def test_nobody_but_the_recipient_can_ack_or_learn_it_exists(
    queue, pending, client_for, user, other_user, make_user, who
):
    envelope_id = queue(user, other_user).json()["id"]
    actor = user if who == "sender" else make_user()

    response = client_for(actor).delete(f"/api/v1/relay/{envelope_id}")
    unknown = client_for(actor).delete(f"/api/v1/relay/{uuid.uuid4()}")
    assert response.status_code == unknown.status_code == 404
    assert response.json() == unknown.json()  # no existence oracle
    assert [item["id"] for item in pending(other_user)["results"]] == [envelope_id]


def test_unauthenticated_ack_is_401(queue, pending, user, other_user):
    envelope_id = queue(user, other_user).json()["id"]
    assert APIClient().delete(f"/api/v1/relay/{envelope_id}").status_code == 401
    assert len(pending(other_user)["results"]) == 1


def test_a_malformed_id_is_a_json_404(client_for, user):
    response = client_for(user).delete("/api/v1/relay/12345")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
