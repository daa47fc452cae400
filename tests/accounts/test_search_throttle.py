"""GET /users/search tells whether an address has an account: it is throttled per user, and its
exact-email lookups more tightly (THROTTLE_USER_SEARCH, THROTTLE_USER_SEARCH_EMAIL)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/users/search"


def test_the_settings_have_defaults():
    from django.conf import settings

    assert settings.THROTTLE_RATES["user_search"] and settings.THROTTLE_RATES["user_search_email"]


def test_searches_are_throttled_per_user(settings, make_user, client_for):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user_search": "3/m"}
    me, other = make_user(), make_user()
    client = client_for(me)
    for _ in range(3):
        assert client.get(SEARCH, {"q": "someone"}).status_code == 200
    refused = client.get(SEARCH, {"q": "someone"})
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    # another user has a counter of their own
    assert client_for(other).get(SEARCH, {"q": "someone"}).status_code == 200


def test_exact_email_lookups_are_throttled_more_tightly(settings, make_user, client_for):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user_search": "100/m", "user_search_email": "2/h"}
    me, other = make_user(), make_user(email="known@example.com")
    client = client_for(me)
    found = client.get(SEARCH, {"q": "known@example.com"})
    assert [row["id"] for row in found.json()["results"]] == [str(other.pk)]
    assert client.get(SEARCH, {"q": "unknown@example.com"}).json()["results"] == []
    refused = client.get(SEARCH, {"q": "known@example.com"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 60  # the hour's window, not the minute's
    assert "results" not in refused.json()
    # name searches still go through: only address lookups used up their budget
    assert client.get(SEARCH, {"q": other.username}).status_code == 200
