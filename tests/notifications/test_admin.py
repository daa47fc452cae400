"""Admin: the outbox with status, attempts and last error, and a resend action."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from notifications.models import OutboundEmail

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def failed_email(address: str) -> OutboundEmail:
    return OutboundEmail.objects.create(
        to_email=address,
        template="verify_email",
        subject="Confirm",
        body_text="text",
        body_html="<p>html</p>",
        status="failed",
        attempts=5,
        last_error="SMTPServerDisconnected: Connection unexpectedly closed",
    )


def test_outbox_lists_status_attempts_and_last_error(admin_client):
    failed_email("stuck@example.com")
    listing = admin_client.get("/admin/notifications/outboundemail/", {"status__exact": "failed"})
    assert listing.status_code == 200
    for expected in (b"stuck@example.com", b"SMTPServerDisconnected", b"Failed"):
        assert expected in listing.content
    assert admin_client.get("/admin/notifications/outboundemail/", {"q": "stuck@"}).status_code == 200
    assert admin_client.get("/admin/notifications/outboundemail/add/").status_code == 403


def test_resend_action_sends_failed_rows_again(admin_client, django_capture_on_commit_callbacks):
    stuck = failed_email("stuck@example.com")
    other = failed_email("other@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/notifications/outboundemail/",
            {"action": "resend", "_selected_action": [str(stuck.pk)]},
            follow=True,
        )
    assert response.status_code == 200
    assert b"1 email(s) queued again." in response.content
    stuck.refresh_from_db()
    other.refresh_from_db()
    assert (stuck.status, stuck.attempts, stuck.last_error) == ("sent", 1, "")
    assert other.status == "failed"
    assert [m.to for m in mail.outbox] == [["stuck@example.com"]]
