"""An account whose address is still unverified UNVERIFIED_ACCOUNT_TTL_HOURS after registration is
deleted by the beat task `accounts.purge_unverified_accounts`, through the account-deletion
service: the address is freed, so whoever typed someone else's address cannot keep its owner out,
and every app drops what the account held."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import DeletedUser, User
from accounts.services import unverified_accounts_purge
from accounts.tasks import purge_unverified_accounts
from messenger.celery import app
from tests.accounts.helpers import ME, REGISTER, STRONG_PASSWORD, VERIFY, bearer, login

pytestmark = pytest.mark.django_db


def register(email: str, username: str, capture, **extra) -> dict:
    with capture(execute=True):
        response = APIClient().post(
            REGISTER,
            {"email": email, "username": username, "password": STRONG_PASSWORD, **extra},
            format="json",
        )
    assert response.status_code == 201, response.json()
    return response.json()


def age(user_id, hours: float) -> None:
    User.objects.filter(pk=user_id).update(date_joined=timezone.now() - timedelta(hours=hours))


def test_a_squatted_address_is_freed_for_its_owner(
    user, other_user, client_for, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    settings_ttl = django_settings.UNVERIFIED_ACCOUNT_TTL_HOURS
    # `user` invites the address; someone else registers it first, without the token.
    with capture(execute=True):
        client_for(user).post("/api/v1/invitations/send", {"email": "owner@example.com"}, format="json")
    invitation_email = next(m for m in mail.outbox if m.to == ["owner@example.com"])
    token = re.search(r"invitation code: (\S+)", invitation_email.body).group(1)
    squatter = register("owner@example.com", "squatter", capture)
    squatter_id = squatter["user"]["id"]
    # It holds nothing from the invitation, but it can be reached: other_user's request, accepted.
    request = client_for(other_user).post("/api/v1/contacts", {"user_id": squatter_id}, format="json").json()
    bearer(squatter["access"]).patch(
        f"/api/v1/contacts/{request['id']}", {"status": "accepted"}, format="json"
    )
    # The owner cannot register while the squatter holds the address.
    taken = APIClient().post(
        REGISTER,
        {"email": "owner@example.com", "username": "owner", "password": STRONG_PASSWORD},
        format="json",
    )
    assert (taken.status_code, list(taken.json()["errors"])) == (400, ["email"])

    age(squatter_id, settings_ttl - 1)
    assert purge_unverified_accounts.apply().get() == 0  # not yet
    age(squatter_id, settings_ttl + 1)
    with capture(execute=True):
        assert purge_unverified_accounts.apply().get() == 1

    # Gone everywhere, through the deletion service: no login, no session, no contact left.
    assert login(APIClient(), "squatter", STRONG_PASSWORD).status_code == 401
    assert bearer(squatter["access"]).get(ME).status_code == 401
    assert client_for(other_user).get("/api/v1/contacts").json()["results"] == []
    assert DeletedUser.objects.get(former_user_id=squatter_id).reason == "unverified"
    assert client_for(other_user).get(f"/api/v1/users/{squatter_id}").status_code == 404
    assert User.objects.get(pk=squatter_id).email.endswith("@deleted.invalid")  # scrubbed

    # The owner registers the address, with the invitation's token: verified, and a contact.
    owner = register("owner@example.com", "owner", capture, invitation_token=token)
    assert owner["user"]["is_verified"] is True
    contacts = bearer(owner["access"]).get("/api/v1/contacts").json()["results"]
    assert [(c["user"]["id"], c["status"]) for c in contacts] == [(str(user.pk), "accepted")]


def test_the_owner_can_also_register_without_the_token_and_verify(django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    squatter = register("owner@example.com", "squatter", capture)
    age(squatter["user"]["id"], django_settings.UNVERIFIED_ACCOUNT_TTL_HOURS + 1)
    assert unverified_accounts_purge() == 1
    mail.outbox.clear()
    owner = register("owner@example.com", "owner", capture)
    verify_email = next(m for m in mail.outbox if m.to == ["owner@example.com"])
    token = re.search(r"verify-email\?token=(\S+)", verify_email.body).group(1)
    response = APIClient().post(VERIFY, {"token": unquote(token)}, format="json")
    assert (response.status_code, response.json()["id"]) == (200, owner["user"]["id"])


def test_only_stale_unverified_non_staff_accounts_are_purged(make_user):
    ttl = django_settings.UNVERIFIED_ACCOUNT_TTL_HOURS
    stale = make_user(is_verified=False)
    banned = make_user(is_verified=False, is_active=False, banned_at=timezone.now())
    fresh = make_user(is_verified=False)
    verified = make_user()
    staff = make_user(is_verified=False, is_staff=True)
    for user in (stale, banned, verified, staff):
        age(user.pk, ttl + 1)
    age(fresh.pk, ttl - 1)
    assert unverified_accounts_purge() == 2
    remaining = set(User.objects.filter(deleted_at__isnull=True).values_list("username", flat=True))
    assert remaining == {fresh.username, verified.username, staff.username}
    assert unverified_accounts_purge() == 0  # the scrubbed rows are not purged again


def test_zero_turns_the_purge_off(make_user, settings):
    settings.UNVERIFIED_ACCOUNT_TTL_HOURS = 0
    stale = make_user(is_verified=False)
    age(stale.pk, 10_000)
    assert unverified_accounts_purge() == 0
    assert User.objects.get(pk=stale.pk).deleted_at is None


def test_the_default_outlives_the_verification_link():
    assert (
        django_settings.UNVERIFIED_ACCOUNT_TTL_HOURS * 3600
        >= django_settings.ACCOUNTS_VERIFY_EMAIL_TTL_SECONDS
    )


def test_the_purge_is_scheduled_and_registered():
    app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks
    entry = django_settings.CELERY_BEAT_SCHEDULE["accounts-purge-unverified"]
    assert entry["task"] == "accounts.purge_unverified_accounts"
    assert float(entry["schedule"]) > 0
    assert "accounts.purge_unverified_accounts" in app.tasks
    assert app.conf.beat_schedule["accounts-purge-unverified"]["task"] == "accounts.purge_unverified_accounts"
