"""POST /invitations/send does not tell whether an address has an account: the same status, the
same body, the same resend behaviour, about the same work, for a registered address, an
unregistered one, and one whose account blocked the inviter. Only the email differs, and only
the address's owner reads it."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact

pytestmark = pytest.mark.django_db


def shape(response) -> tuple:
    body = response.json()
    return (response.status_code, sorted(body), body["status"], body["invitee_email"])


def test_registered_and_unregistered_addresses_get_the_same_answer(user, make_user, send, client_for):
    member = make_user(email="member@example.com")
    nobody = send(user, "nobody@example.com")
    registered = send(user, "Member@Example.com")
    assert shape(registered) == (201, sorted(nobody.json()), "pending", "member@example.com")
    assert shape(nobody)[:3] == shape(registered)[:3]
    # Sending again: the same id in both cases (a refresh, as for any pending invitation).
    assert send(user, "member@example.com").json()["id"] == registered.json()["id"]
    assert send(user, "nobody@example.com").json()["id"] == nobody.json()["id"]
    # Nothing the inviter can see tells them apart: no contact, no pending request.
    assert client_for(user).get("/api/v1/contacts").json()["results"] == []
    assert client_for(member).get("/api/v1/contacts").json()["results"] == []
    assert Contact.objects.count() == 0


def test_a_blocked_address_gets_the_same_answer_and_no_email(user, make_user, client_for, send):
    blocker = make_user(email="blocker@example.com")
    request = client_for(user).post("/api/v1/contacts", {"user_id": str(blocker.pk)}, format="json")
    client_for(blocker).patch(
        f"/api/v1/contacts/{request.json()['id']}", {"status": "blocked"}, format="json"
    )
    mail.outbox.clear()
    response = send(user, "blocker@example.com")
    assert shape(response) == (
        201,
        sorted(send(user, "nobody@example.com").json()),
        "pending",
        "blocker@example.com",
    )
    assert [m.to for m in mail.outbox] == [["nobody@example.com"]]  # the blocker gets nothing
    assert Contact.objects.get().status == "blocked"  # and the block stands


def test_a_verified_member_is_told_who_wants_to_chat_without_a_token(user, make_user, send, client_for):
    member = make_user(email="member@example.com")
    send(user, "member@example.com")
    [message] = mail.outbox
    assert message.to == ["member@example.com"]
    assert f"@{user.username}" in message.body
    assert f"@{user.username}" in message.alternatives[0][0]
    assert "invitation code" not in message.body
    assert "/register?invitation=" not in message.body
    # The member decides: nothing became a contact on its own.
    assert client_for(member).get("/api/v1/contacts").json()["results"] == []


def test_an_unverified_account_does_not_own_the_address_the_invitation_goes_out(
    user, make_user, send, client_for
):
    """An unverified account has not proved the address: its owner may be someone else, who
    gets the ordinary invitation (and the account becomes a contact only if it verifies)."""
    make_user(email="squatted@example.com", is_verified=False)
    send(user, "squatted@example.com")
    [message] = mail.outbox
    token = re.search(r"invitation code: (\S+)", message.body).group(1)
    assert client_for(user).get(f"/api/v1/invitations/verify/{token}").status_code == 200
    assert Contact.objects.count() == 0


def test_about_the_same_work_either_way(user, make_user, client_for):
    """Timing: the registered path may not do visibly more. Counted in queries (a wall clock
    would flake): one more indexed lookup (a block); the account and its state are one probe."""
    make_user(email="member@example.com")

    def queries(address: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert (
                client_for(user)
                .post("/api/v1/invitations/send", {"email": address}, format="json")
                .status_code
                == 201
            )
        return len(captured)

    unregistered, registered = queries("nobody@example.com"), queries("member@example.com")
    assert registered - unregistered <= 1
