"""End to end through accounts: an invitation becomes a contact at registration, and account
deletion removes the user's contacts and invitations (accounts' signals, our receivers)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from django.core import mail
from rest_framework.test import APIClient

from contacts.models import Contact, Invitation
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

PASSWORD = "violet-Orbit-42-lantern"


def invite(client, email: str, capture) -> str:
    with capture(execute=True):
        assert client.post("/api/v1/invitations/send", {"email": email}, format="json").status_code == 201
    message = next(m for m in reversed(mail.outbox) if m.to == [email])
    found = re.search(r"invitation code: (\S+)", str(message.body))
    assert found, message.body
    return found.group(1)


def register(capture, **body) -> dict:
    with capture(execute=True):
        response = APIClient().post("/api/v1/auth/register", {"password": PASSWORD, **body}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_register_with_invitation_token_makes_accepted_contacts(
    user, client_for, django_capture_on_commit_callbacks
):
    token = invite(client_for(user), "friend@example.com", django_capture_on_commit_callbacks)
    session = register(
        django_capture_on_commit_callbacks,
        email="another.address@example.com",
        username="newcomer",
        invitation_token=token,
    )
    newcomer = bearer(session["access"])
    theirs = newcomer.get("/api/v1/contacts").json()["results"]
    assert [(c["user"]["id"], c["status"], c["direction"]) for c in theirs] == [
        (str(user.pk), "accepted", "incoming")
    ]
    mine = client_for(user).get("/api/v1/contacts").json()["results"]
    assert [(c["user"]["username"], c["status"]) for c in mine] == [("newcomer", "accepted")]
    verify = APIClient().get(f"/api/v1/invitations/verify/{token}")
    assert (verify.status_code, verify.json()["code"]) == (410, "invitation_used")
    # The registration also queued the verification email through the same outbox.
    assert any(m.to == ["another.address@example.com"] for m in mail.outbox)


def verify_link_token(address: str) -> str:
    message = next(
        m
        for m in reversed(mail.outbox)
        if [t.lower() for t in m.to] == [address.lower()] and "verify-email" in m.body
    )
    found = re.search(r"verify-email\?token=(\S+)", str(message.body))
    assert found, message.body
    return unquote(found.group(1))


def test_registering_the_invited_address_alone_makes_no_contact_until_it_is_verified(
    user, other_user, client_for, django_capture_on_commit_callbacks
):
    """Anyone can type an address: registering it proves nothing, so the invitations to it wait.
    Clicking the verification link (sent to that address) proves it, and they become contacts."""
    invite(client_for(user), "invited@example.com", django_capture_on_commit_callbacks)
    invite(client_for(other_user), "invited@example.com", django_capture_on_commit_callbacks)
    session = register(django_capture_on_commit_callbacks, email="Invited@Example.com", username="invited")
    assert session["user"]["is_verified"] is False
    newcomer = bearer(session["access"])
    assert newcomer.get("/api/v1/contacts").json()["results"] == []
    assert client_for(user).get("/api/v1/contacts").json()["results"] == []
    assert set(Invitation.objects.values_list("status", flat=True)) == {"pending"}
    assert Contact.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        verified = APIClient().post(
            "/api/v1/auth/verify-email", {"token": verify_link_token("Invited@Example.com")}, format="json"
        )
    assert verified.status_code == 200, verified.json()
    theirs = newcomer.get("/api/v1/contacts").json()["results"]
    assert {(c["user"]["id"], c["status"]) for c in theirs} == {
        (str(user.pk), "accepted"),
        (str(other_user.pk), "accepted"),
    }
    mine = client_for(user).get("/api/v1/contacts").json()["results"]
    assert [(c["user"]["username"], c["status"]) for c in mine] == [("invited", "accepted")]
    assert set(Invitation.objects.values_list("status", flat=True)) == {"accepted"}


def test_registering_with_the_token_and_the_invited_address_proves_the_address(
    user, other_user, client_for, django_capture_on_commit_callbacks
):
    """The token came in the email to that address: the account is verified at once (no
    verification email), and every inviter of the address becomes a contact."""
    token = invite(client_for(user), "friend@example.com", django_capture_on_commit_callbacks)
    invite(client_for(other_user), "friend@example.com", django_capture_on_commit_callbacks)
    sent_before = len(mail.outbox)
    session = register(
        django_capture_on_commit_callbacks,
        email="Friend@example.com",
        username="friend",
        invitation_token=token,
    )
    assert session["user"]["is_verified"] is True
    assert bearer(session["access"]).get("/api/v1/auth/me").json()["is_verified"] is True
    assert mail.outbox[sent_before:] == []  # no verification email: the address is proven
    theirs = bearer(session["access"]).get("/api/v1/contacts").json()["results"]
    assert {(c["user"]["id"], c["status"]) for c in theirs} == {
        (str(user.pk), "accepted"),
        (str(other_user.pk), "accepted"),
    }


def test_registering_another_address_with_the_token_does_not_verify_it(
    user, other_user, client_for, django_capture_on_commit_callbacks
):
    """The token makes its own inviter a contact; it says nothing about the other address, which
    still needs its verification link, nor about other invitations to that other address."""
    token = invite(client_for(user), "friend@example.com", django_capture_on_commit_callbacks)
    invite(client_for(other_user), "other.address@example.com", django_capture_on_commit_callbacks)
    session = register(
        django_capture_on_commit_callbacks,
        email="other.address@example.com",
        username="friend",
        invitation_token=token,
    )
    assert session["user"]["is_verified"] is False
    theirs = bearer(session["access"]).get("/api/v1/contacts").json()["results"]
    assert [c["user"]["id"] for c in theirs] == [str(user.pk)]
    assert Invitation.objects.get(inviter=other_user).status == "pending"
    assert verify_link_token("other.address@example.com")


def test_a_failed_registration_accepts_nothing(user, client_for, django_capture_on_commit_callbacks):
    token = invite(client_for(user), "friend@example.com", django_capture_on_commit_callbacks)
    response = APIClient().post(
        "/api/v1/auth/register",
        {
            "email": "friend@example.com",
            "username": user.username,
            "password": PASSWORD,
            "invitation_token": token,
        },
        format="json",
    )
    assert response.status_code == 400  # the username is taken
    assert Invitation.objects.get().status == "pending"
    assert Contact.objects.count() == 0


def test_account_deletion_removes_contacts_and_invitations(
    user, other_user, client_for, django_capture_on_commit_callbacks
):
    client_for(user).post("/api/v1/contacts", {"user_id": str(other_user.pk)}, format="json")
    invite(client_for(user), "friend@example.com", django_capture_on_commit_callbacks)
    response = client_for(user).delete("/api/v1/auth/me", {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 204
    assert Contact.objects.count() == 0
    assert Invitation.objects.count() == 0
    assert client_for(other_user).get("/api/v1/contacts").json()["results"] == []
