"""Invitations: send (one pending per address, resend refreshes, daily cap, email through the
outbox), verify (404 / 410), expiry, and registration turning an invitation into a contact."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.events import user_deleted, user_registered, user_verified
from contacts.models import Contact, Invitation
from contacts.services import invitations_expire
from contacts.tasks import expire_invitations
from core.events import realtime_user_group_name
from notifications.models import OutboundEmail

pytestmark = pytest.mark.django_db


def token_from(message) -> str:
    return re.search(r"invitation code: (\S+)", message.body).group(1)


def test_send_creates_pending_invitation_and_emails_the_link(user, send, settings):
    settings.FRONTEND_URL = "https://app.example"
    settings.INVITATION_TTL_DAYS = 7
    response = send(user, "  Friend@Example.COM ")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "invitee_email", "status", "expires_at", "created_at"}
    assert (body["invitee_email"], body["status"]) == ("friend@example.com", "pending")
    invitation = Invitation.objects.get(pk=body["id"])
    assert timedelta(days=6, hours=23) < invitation.expires_at - timezone.now() <= timedelta(days=7)
    [message] = mail.outbox
    assert message.to == ["friend@example.com"]
    assert (user.full_name or user.username) in message.subject
    token = token_from(message)
    assert f"https://app.example/register?invitation={token}" in message.body
    assert token in message.alternatives[0][0]
    # The token is only in the email; the row keeps its hash.
    assert token not in invitation.token_hash
    assert OutboundEmail.objects.get().status == "sent"


def test_resend_refreshes_the_same_invitation_with_a_new_token(user, send, client_for):
    first = send(user, "friend@example.com").json()
    Invitation.objects.filter(pk=first["id"]).update(expires_at=timezone.now() + timedelta(hours=1))
    old_token = token_from(mail.outbox[0])
    second = send(user, "FRIEND@example.com")
    assert second.status_code == 201
    assert second.json()["id"] == first["id"]
    assert Invitation.objects.count() == 1
    assert Invitation.objects.get().expires_at > timezone.now() + timedelta(days=6)
    new_token = token_from(mail.outbox[1])
    assert new_token != old_token
    assert client_for(user).get(f"/api/v1/invitations/verify/{old_token}").status_code == 404
    assert client_for(user).get(f"/api/v1/invitations/verify/{new_token}").status_code == 200


def test_two_inviters_may_invite_the_same_address(user, other_user, send):
    assert send(user, "friend@example.com").status_code == 201
    assert send(other_user, "friend@example.com").status_code == 201
    assert Invitation.objects.filter(status="pending").count() == 2


def test_send_bad_input(user, other_user, send):
    for email in ("", "not-an-email", "a" * 250 + "@example.com"):
        response = send(user, email)
        assert response.status_code == 400
        assert "email" in response.json()["errors"]
    myself = send(user, user.email.upper())
    assert (myself.status_code, myself.json()["code"]) == (400, "cannot_invite_self")
    assert Invitation.objects.count() == 0
    assert mail.outbox == []


def test_send_requires_auth(api_client):
    assert (
        api_client.post("/api/v1/invitations/send", {"email": "a@example.com"}, format="json").status_code
        == 401
    )


def test_daily_cap_answers_429_with_retry_after(user, send, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "invitation_send": "3/d"}
    for n in range(3):
        assert send(user, f"friend{n}@example.com").status_code == 201
    capped = send(user, "friend9@example.com")
    assert capped.status_code == 429
    assert capped.json()["code"] == "throttled"
    assert int(capped["Retry-After"]) > 3600
    assert Invitation.objects.count() == 3
    assert len(mail.outbox) == 3


def test_verify_valid_token_without_auth(user, send, api_client):
    send(user, "friend@example.com")
    token = token_from(mail.outbox[0])
    api_client.credentials(HTTP_AUTHORIZATION="Bearer stale-garbage")  # ignored here, not a 401
    response = api_client.get(f"/api/v1/invitations/verify/{token}")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    assert body["invitee_email"] == "friend@example.com"
    assert body["inviter"]["id"] == str(user.pk)
    assert "email" not in body["inviter"]
    assert api_client.get(f"/api/v1/invitations/verify/{token}/").status_code == 200


def test_verify_unknown_404_expired_and_used_410(user, send, api_client, make_user):
    assert api_client.get("/api/v1/invitations/verify/nope").json()["code"] == "invitation_not_found"
    assert api_client.get("/api/v1/invitations/verify/nope").status_code == 404
    send(user, "late@example.com")
    send(user, "used@example.com")
    late, used = (token_from(m) for m in mail.outbox)
    Invitation.objects.filter(invitee_email="late@example.com").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = api_client.get(f"/api/v1/invitations/verify/{late}")
    assert (response.status_code, response.json()["code"]) == (410, "invitation_expired")
    newcomer = make_user(email="used@example.com")
    user_verified.send(sender=None, user_id=newcomer.pk, email=newcomer.email)
    response = api_client.get(f"/api/v1/invitations/verify/{used}")
    assert (response.status_code, response.json()["code"]) == (410, "invitation_used")


def test_periodic_task_marks_expired(user, send, api_client):
    send(user, "late@example.com")
    send(user, "fine@example.com")
    late = token_from(mail.outbox[0])
    Invitation.objects.filter(invitee_email="late@example.com").update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert expire_invitations.delay().get() == 1
    assert dict(Invitation.objects.values_list("invitee_email", "status")) == {
        "late@example.com": "expired",
        "fine@example.com": "pending",
    }
    assert invitations_expire() == 0
    assert api_client.get(f"/api/v1/invitations/verify/{late}").status_code == 410
    # An expired invitation no longer blocks a new one to the same address.
    assert send(user, "late@example.com").status_code == 201
    assert Invitation.objects.filter(invitee_email="late@example.com", status="pending").count() == 1


def test_registration_with_the_token_makes_accepted_contacts(
    user, send, make_user, client_for, capture_events
):
    send(user, "friend@example.com")
    token = token_from(mail.outbox[0])
    newcomer = make_user(email="someone.else@example.com")  # the token works for any address
    with capture_events() as sent:
        user_registered.send(sender=None, user_id=newcomer.pk, email=newcomer.email, invitation_token=token)
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.accepted_by_id) == ("accepted", newcomer.pk)
    contact = Contact.objects.get()
    assert (contact.requester_id, contact.addressee_id, contact.status) == (user.pk, newcomer.pk, "accepted")
    mine = client_for(user).get("/api/v1/contacts").json()["results"]
    assert [(c["user"]["id"], c["status"]) for c in mine] == [(str(newcomer.pk), "accepted")]
    assert {e["groups"][0] for e in sent if e["type"] == "contact.updated"} == {
        realtime_user_group_name(user.pk),
        realtime_user_group_name(newcomer.pk),
    }


def test_registration_with_the_invited_address_alone_accepts_nothing(user, send, make_user):
    """Typing an address proves nothing: whoever registers it first would otherwise become the
    inviter's contact, and the address's owner could never register."""
    send(user, "friend@example.com")
    squatter = make_user(email="Friend@Example.com", is_verified=False)
    user_registered.send(sender=None, user_id=squatter.pk, email=squatter.email, invitation_token=None)
    assert Contact.objects.count() == 0
    assert Invitation.objects.get().status == "pending"


def test_verifying_the_invited_address_accepts_every_inviter(user, other_user, send, make_user):
    send(user, "friend@example.com")
    send(other_user, "friend@example.com")
    send(user, "nobody@example.com")
    newcomer = make_user(email="Friend@Example.com")
    user_verified.send(sender=None, user_id=newcomer.pk, email=newcomer.email)
    assert set(Contact.objects.values_list("requester_id", "status")) == {
        (user.pk, "accepted"),
        (other_user.pk, "accepted"),
    }
    assert Invitation.objects.get(invitee_email="nobody@example.com").status == "pending"


def test_registration_ignores_expired_and_unknown_tokens(user, send, make_user):
    send(user, "friend@example.com")
    token = token_from(mail.outbox[0])
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    newcomer = make_user(email="friend@example.com")
    user_registered.send(sender=None, user_id=newcomer.pk, email=newcomer.email, invitation_token=token)
    user_registered.send(sender=None, user_id=newcomer.pk, email=newcomer.email, invitation_token="bogus")
    assert Contact.objects.count() == 0
    assert Invitation.objects.get().status == "pending"  # the periodic task will mark it expired


def test_account_deletion_removes_contacts_and_invitations(
    user, other_user, make_user, client_for, send, capture_events
):
    third = make_user()
    client_for(user).post("/api/v1/contacts", {"user_id": str(other_user.pk)}, format="json")
    client_for(third).post("/api/v1/contacts", {"user_id": str(user.pk)}, format="json")
    client_for(other_user).post("/api/v1/contacts", {"user_id": str(third.pk)}, format="json")
    send(user, "friend@example.com")
    with capture_events() as sent:
        user_deleted.send(sender=None, user_id=user.pk)
    assert set(Contact.objects.values_list("requester_id", "addressee_id")) == {(other_user.pk, third.pk)}
    assert Invitation.objects.count() == 0
    assert sorted(e["groups"][0] for e in sent) == sorted(
        [realtime_user_group_name(other_user.pk), realtime_user_group_name(third.pk)]
    )
    assert all(e["data"]["status"] == "deleted" for e in sent)


def test_invitation_with_the_broker_down_succeeds_and_is_sent_once_later(user, send, settings):
    """In-process version of the broker-outage test (tests/integration has the real worker)."""
    from notifications.services import emails_redispatch_overdue
    from tests.notifications.broker import unreachable_broker

    with unreachable_broker():
        response = send(user, "friend@example.com")
    assert response.status_code == 201
    row = OutboundEmail.objects.get()
    assert (row.status, row.attempts) == ("pending", 0)
    assert mail.outbox == []
    OutboundEmail.objects.update(
        next_attempt_at=timezone.now() - timedelta(seconds=settings.EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS + 1)
    )
    assert emails_redispatch_overdue() == 1
    assert emails_redispatch_overdue() == 0
    assert [m.to for m in mail.outbox] == [["friend@example.com"]]
    assert OutboundEmail.objects.get().status == "sent"


def test_an_admin_marking_the_address_verified_accepts_the_invitations(user, send, make_user):
    from accounts.services import user_mark_verified

    send(user, "friend@example.com")
    newcomer = make_user(email="friend@example.com", is_verified=False)
    assert Contact.objects.count() == 0
    user_mark_verified(user_id=newcomer.pk)
    assert Contact.objects.get().status == "accepted"
    assert Invitation.objects.get().accepted_by_id == newcomer.pk
    user_mark_verified(user_id=newcomer.pk)  # already verified: nothing more happens
    assert Contact.objects.count() == 1
