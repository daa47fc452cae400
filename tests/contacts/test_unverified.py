"""What an unverified account may do in contacts: ask and answer (the addressee decides, and the
per-user cap holds), but not invite: invitations mail a stranger, so they need a proven address
(403 `email_not_verified`). It proved no address, so it may be a throwaway."""

from __future__ import annotations

import pytest
from django.core import mail

from contacts.models import Contact, Invitation

pytestmark = pytest.mark.django_db


@pytest.fixture
def unverified(make_user):
    return make_user(is_verified=False)


def ask(client, user):
    return client.post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")


def test_an_unverified_accounts_request_reaches_the_addressee_pending(
    unverified, other_user, client_for, capture_events
):
    with capture_events() as sent:
        response = ask(client_for(unverified), other_user)
    assert (response.status_code, response.json()["status"]) == (201, "pending")
    assert [event["type"] for event in sent] == ["contact.request", "contact.request"]
    [row] = client_for(other_user).get("/api/v1/contacts").json()["results"]
    assert (row["status"], row["user"]["id"]) == ("pending", str(unverified.pk))


def test_an_unverified_account_can_answer_a_request_made_to_it(unverified, other_user, client_for):
    request = ask(client_for(other_user), unverified)
    assert request.status_code == 201
    # Asking back is accepting: allowed, it reaches no one new.
    back = ask(client_for(unverified), other_user)
    assert (back.status_code, back.json()["status"]) == (200, "accepted")
    assert Contact.objects.get().status == "accepted"


def test_an_unverified_account_can_accept_by_patch(unverified, other_user, client_for):
    contact = ask(client_for(other_user), unverified).json()
    response = client_for(unverified).patch(
        f"/api/v1/contacts/{contact['id']}", {"status": "accepted"}, format="json"
    )
    assert (response.status_code, response.json()["status"]) == (200, "accepted")


def test_an_unverified_account_cannot_send_invitations(
    unverified, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(unverified).post(
            "/api/v1/invitations/send", {"email": "stranger@example.com"}, format="json"
        )
    assert (response.status_code, response.json()["code"]) == (403, "email_not_verified")
    assert Invitation.objects.count() == 0
    assert mail.outbox == []


def test_once_verified_it_can_reach_out(unverified, other_user, client_for):
    from accounts.services import user_mark_verified

    user_mark_verified(user_id=unverified.pk)
    assert ask(client_for(unverified), other_user).status_code == 201
