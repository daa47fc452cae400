"""POST /contacts is throttled per user (THROTTLE_CONTACT_REQUESTS): a spam brake."""

from __future__ import annotations

import pytest

from contacts.models import Contact

pytestmark = pytest.mark.django_db


def ask(client, user):
    return client.post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")


def test_contact_requests_past_the_rate_get_429_with_retry_after(user, make_user, client_for, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "contact_request": "3/h"}
    targets = [make_user() for _ in range(4)]
    client = client_for(user)
    for target in targets[:3]:
        assert ask(client, target).status_code == 201
    refused = ask(client, targets[3])
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 3600
    # The refused request reached no one.
    assert not Contact.objects.filter(addressee=targets[3]).exists()
    assert client_for(targets[3]).get("/api/v1/contacts").json()["results"] == []


def test_the_cap_is_per_user_and_reading_is_not_counted(user, other_user, make_user, client_for, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "contact_request": "1/h"}
    target = make_user()
    assert ask(client_for(user), target).status_code == 201
    assert ask(client_for(user), make_user()).status_code == 429
    # Listing and reading one's contacts is not a request to anyone.
    for _ in range(3):
        assert client_for(user).get("/api/v1/contacts").status_code == 200
    # Another user has a counter of their own.
    assert ask(client_for(other_user), target).status_code == 201


def test_default_rate_is_thirty_an_hour(settings):
    assert settings.THROTTLE_RATES["contact_request"] == "30/h"
