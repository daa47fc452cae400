"""The outbox against a real broker and a real `celery -A messenger worker` process.

Skipped in the embedded mode (no broker to run a worker against); CI's real mode runs them.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Invitation
from notifications.models import OutboundEmail
from notifications.tasks import send_outbound_email
from tests.notifications.broker import unreachable_broker
from tests.notifications.worker import skip_unless_real_services, start_worker, text_of

pytestmark = [pytest.mark.integration, pytest.mark.real_celery, pytest.mark.django_db(transaction=True)]

REDISPATCH_AFTER_SECONDS = 2


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    skip_unless_real_services()
    with django_db_blocker.unblock():
        yield from start_worker(
            tmp_path_factory.mktemp("celery-worker"),
            extra_env={
                # The worker's beat runs the re-dispatch every second, and calls a pending row
                # lost after 2 s (production: every 60 s, after 300 s).
                "EMAIL_OUTBOX_REDISPATCH_EVERY_SECONDS": "1",
                "EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS": str(REDISPATCH_AFTER_SECONDS),
            },
        )


def wait_for_status(email_id, status: str, timeout: float = 30.0) -> OutboundEmail:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = OutboundEmail.objects.get(pk=email_id)
        if row.status == status:
            return row
        time.sleep(0.2)
    raise AssertionError(f"email {email_id} still {row.status} after {timeout}s")


def test_worker_delivers_an_invitation_email(worker, user, client_for, api_client):
    response = client_for(user).post(
        "/api/v1/invitations/send", {"email": "worker.friend@example.com"}, format="json"
    )
    assert response.status_code == 201
    [message] = worker.wait_for_messages_to("worker.friend@example.com")
    assert (user.full_name or user.username) in message["Subject"]
    text = text_of(message)
    token = re.search(r"invitation code: (\S+)", text).group(1)
    assert f"/register?invitation={token}" in text
    assert f"/register?invitation={token}" in text_of(message, "html")
    # The link in the email works.
    verify = api_client.get(f"/api/v1/invitations/verify/{token}")
    assert verify.status_code == 200
    assert verify.json()["inviter"]["id"] == str(user.pk)
    row = wait_for_status(OutboundEmail.objects.get(to_email="worker.friend@example.com").pk, "sent")
    assert (row.attempts, row.last_error) == (1, "")


def test_broker_outage_delays_the_invitation_and_sends_it_exactly_once(worker, user, client_for):
    address = "outage.friend@example.com"
    with unreachable_broker():
        started = time.monotonic()
        response = client_for(user).post("/api/v1/invitations/send", {"email": address}, format="json")
        elapsed = time.monotonic() - started
    # The request succeeds: the invitation and its email row are committed.
    assert response.status_code == 201
    # A hang guard, not a speed claim: kombu's default is to retry a publish for ever, which
    # would hold the request (and its worker thread) until the broker came back.
    assert elapsed < 30, f"the request waited {elapsed:.1f}s on the unreachable broker"
    assert Invitation.objects.filter(invitee_email=address, status="pending").exists()
    row = OutboundEmail.objects.get(to_email=address)
    assert (row.status, row.attempts) == ("pending", 0)
    assert worker.messages_to(address) == []

    # The broker is back (this process publishes to it again); nothing re-sends the task but
    # the worker's beat: the periodic re-dispatch finds the row overdue and hands it over.
    [message] = worker.wait_for_messages_to(address, timeout=60)
    assert text_of(message).count("invitation code:") == 1
    row = wait_for_status(row.pk, "sent")
    assert row.attempts == 1
    assert "Re-dispatched 1 overdue email(s)" in worker.log()

    # Duplicate hand-offs (a late original task, a second re-dispatch) find the row sent.
    skipped_before = worker.log_text().count("'skipped'")
    send_outbound_email.delay(str(row.pk))
    send_outbound_email.delay(str(row.pk))
    deadline = time.monotonic() + 30
    while worker.log_text().count("'skipped'") < skipped_before + 2:
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.2)
    assert len(worker.messages_to(address)) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 1)
    assert (
        OutboundEmail.objects.filter(
            status="pending", next_attempt_at__lt=timezone.now() - timedelta(seconds=1)
        ).count()
        == 0
    )
