"""Every login path shares the login limits: the admin login form counts on the same per-account
and per-address counters as POST /auth/login, and a lock-out earned on one holds on the other."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.accounts.helpers import login
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
LOCKED_MESSAGE = "Too many login attempts"


@pytest.fixture
def staff(make_user):
    return make_user(username="root", is_staff=True, is_superuser=True, role=User.Role.ADMIN)


def admin_login(client: Client, username: str, password: str):
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"})


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_guessing_the_admin_password_is_stopped_like_the_api(staff):
    """The report: 40 wrong passwords on the admin form, then the right one, logged in."""
    client = Client()
    for _ in range(40):
        assert admin_login(client, "root", "wrong").status_code == 200
    response = admin_login(client, "root", DEFAULT_PASSWORD)
    assert response.status_code == 200  # the form again, not the redirect of a login
    assert LOCKED_MESSAGE in response.content.decode()
    assert not logged_in(client)


def test_an_api_lock_out_holds_on_the_admin_login(api_client, staff):
    for _ in range(5):
        assert login(api_client, "root", "wrong").status_code == 401
    assert login(api_client, "root").status_code == 429
    client = Client()
    response = admin_login(client, "ROOT", DEFAULT_PASSWORD)
    assert response.status_code == 200
    assert LOCKED_MESSAGE in response.content.decode()
    assert not logged_in(client)


def test_an_admin_lock_out_holds_on_the_api(api_client, staff):
    client = Client()
    for _ in range(5):
        response = admin_login(client, "root", "wrong")
        assert LOCKED_MESSAGE not in response.content.decode()  # plain wrong passwords first
    locked = login(api_client, "root")
    assert locked.status_code == 429
    assert locked.json()["code"] == "login_throttled"


def test_the_admin_login_counts_on_the_per_address_limit_of_the_api(api_client, staff, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_ip": "3/30m"}
    client = Client()  # the same address (127.0.0.1) as api_client
    assert admin_login(client, "root", "wrong").status_code == 200
    assert admin_login(client, "nobody", "wrong").status_code == 200
    assert login(api_client, "someone", "wrong").status_code == 401
    # the fourth attempt from this address, on either path, is refused
    assert login(api_client, "root").status_code == 429
    refused = admin_login(Client(), "root", DEFAULT_PASSWORD)
    assert LOCKED_MESSAGE in refused.content.decode()


def test_a_right_admin_login_still_works_and_clears_the_failures(api_client, staff):
    client = Client()
    for _ in range(4):
        admin_login(client, "root", "wrong")
    assert admin_login(client, "root", DEFAULT_PASSWORD).status_code == 302
    assert logged_in(client)
    # the counter was cleared: four more failures do not lock the API login
    for _ in range(4):
        assert login(api_client, "root", "wrong").status_code == 401
    assert login(api_client, "root").status_code == 200
