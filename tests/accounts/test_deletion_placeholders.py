"""What account deletion writes into the row (its placeholder username and address) can never be
registered or taken, and deletion never fails on a collision with one."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.accounts.helpers import ME, REGISTER, STRONG_PASSWORD, bearer, session_for
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def delete_account(user):
    client = bearer(session_for(user)["access"])
    return client.delete(ME, {"password": DEFAULT_PASSWORD}, format="json")


def register(api_client, **fields):
    body = {"email": "sam@example.com", "username": "sam", "password": STRONG_PASSWORD, **fields}
    return api_client.post(REGISTER, body, format="json")


def test_an_account_holding_the_old_placeholders_of_the_victim_cannot_block_its_deletion(make_user):
    """Before the fix, registering `deleted_<first 24 hex of the victim's id>` (ids are public)
    made the victim's DELETE /auth/me a 500 for ever. Such rows may exist from then."""
    victim = make_user()
    old_placeholder = f"deleted_{victim.pk.hex[:24]}"
    make_user(username=old_placeholder, email=f"{old_placeholder}@deleted.invalid")
    response = delete_account(victim)
    assert response.status_code == 204, response.content
    row = User.objects.get(pk=victim.pk)
    assert row.deleted_at is not None and not row.is_active


def test_placeholders_are_unguessable_and_of_a_shape_nobody_can_register(make_user, api_client):
    first, second = make_user(), make_user()
    assert delete_account(first).status_code == 204
    assert delete_account(second).status_code == 204
    rows = {row.pk: row for row in User.objects.filter(pk__in=[first.pk, second.pk])}
    one, two = rows[first.pk], rows[second.pk]
    assert one.username != two.username and one.email.lower() != two.email.lower()
    for row in (one, two):
        assert row.pk.hex[:24] not in row.username and row.pk.hex[:24] not in row.email
        assert row.email.lower().endswith(".invalid")
        # the very values cannot be registered by anyone
        response = register(api_client, username=row.username, email=row.email)
        assert response.status_code == 400
        assert {"username", "email"} <= set(response.json()["errors"])


@pytest.mark.parametrize("username", ["deleted_0123456789abcdef01234567", "Deleted_x", "DELETED_abc"])
def test_register_refuses_usernames_of_the_deletion_shape(api_client, username):
    response = register(api_client, username=username)
    assert response.status_code == 400
    assert "username" in response.json()["errors"]
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "email", ["deleted_abc@deleted.invalid", "anyone@DELETED.INVALID", "a@sub.example.invalid"]
)
def test_register_refuses_addresses_under_dot_invalid(api_client, email):
    response = register(api_client, email=email)
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    assert not User.objects.exists()


def test_the_service_refuses_them_whoever_calls(db):
    from accounts.services import user_register
    from core.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as raised:
        user_register(email="x@deleted.invalid", username="deleted_x", password=STRONG_PASSWORD)
    assert set(raised.value.errors) == {"email", "username"}
    assert not User.objects.exists()


def test_profile_updates_cannot_change_username_or_email(user, client_for):
    response = client_for(user).patch(
        f"/api/v1/users/{user.pk}",
        {"username": "deleted_x", "email": "x@deleted.invalid", "bio": "b"},
        format="json",
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.username != "deleted_x" and user.email != "x@deleted.invalid"


def admin_change(client: Client, target: User, **changes):
    body = {
        "username": target.username,
        "email": target.email,
        "role": target.role,
        "full_name": target.full_name,
        "avatar_url": target.avatar_url,
        "bio": target.bio,
        **changes,
    }
    return client.post(f"/admin/accounts/user/{target.pk}/change/", body)


def test_the_admin_cannot_give_anyone_a_placeholder(make_user):
    staff = make_user(is_staff=True, is_superuser=True, role=User.Role.ADMIN)
    target = make_user(username="tess", email="tess@example.com")
    client = Client()
    client.force_login(staff)
    refused = admin_change(client, target, username="deleted_abc", email="tess@deleted.invalid")
    assert refused.status_code == 200  # the form again, with its errors
    errors = refused.context["adminform"].form.errors
    assert {"username", "email"} <= set(errors)
    target.refresh_from_db()
    assert (target.username, target.email) == ("tess", "tess@example.com")
    # an ordinary change still goes through
    assert admin_change(client, target, username="tess2", email="tess2@example.com").status_code == 302
    target.refresh_from_db()
    assert (target.username, target.email) == ("tess2", "tess2@example.com")
