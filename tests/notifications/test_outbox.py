"""The email outbox: written in the caller's transaction, sent after commit, retried with
backoff, marked failed at the end, re-dispatched when lost, never sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from notifications.models import OutboundEmail
from notifications.services import (
    email_enqueue,
    email_send,
    emails_purge_sent,
    emails_redispatch_overdue,
    emails_resend,
    retry_delay_seconds,
)
from tests.notifications.broker import closed_port, unreachable_broker

pytestmark = pytest.mark.django_db

VERIFY_CONTEXT = {"username": "ann", "verify_url": "https://m.example/verify?t=tok123", "token": "tok123"}


@pytest.fixture
def smtp_down(settings):
    """Real SMTP to a closed loopback port: every send fails with a refused connection."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port()
    settings.EMAIL_TIMEOUT = 2


def test_email_is_sent_after_commit_with_text_and_html(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        email_id = email_enqueue(to="ann@example.com", template="verify_email", context=VERIFY_CONTEXT)
        row = OutboundEmail.objects.get(pk=email_id)
        assert row.status == "pending"
        assert mail.outbox == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")
    assert row.sent_at is not None
    [message] = mail.outbox
    assert message.to == ["ann@example.com"]
    assert message.subject == "Confirm your email address for Messenger"
    assert "https://m.example/verify?t=tok123" in message.body
    assert "tok123" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert 'href="https://m.example/verify?t=tok123"' in html


def test_rolled_back_action_sends_nothing(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        email_enqueue(to="ann@example.com", template="verify_email", context=VERIFY_CONTEXT)
        raise RuntimeError("registration failed after the email was queued")
    assert OutboundEmail.objects.count() == 0
    assert mail.outbox == []


def test_html_escapes_context_and_text_does_not():
    context = {**VERIFY_CONTEXT, "username": "<b>ann & co</b>"}
    email_id = email_enqueue(to="ann@example.com", template="verify_email", context=context)
    row = OutboundEmail.objects.get(pk=email_id)
    assert "Hello <b>ann & co</b>," in row.body_text
    assert "&lt;b&gt;ann &amp; co&lt;/b&gt;" in row.body_html


def test_unknown_template_is_a_programming_error():
    with pytest.raises(ValueError, match="Unknown email template"):
        email_enqueue(to="ann@example.com", template="nope", context={})
    assert OutboundEmail.objects.count() == 0


def test_backoff_is_exponential_and_capped(settings):
    settings.EMAIL_OUTBOX_RETRY_BASE_SECONDS = 30
    settings.EMAIL_OUTBOX_RETRY_MAX_SECONDS = 200
    assert [retry_delay_seconds(attempts=n) for n in range(1, 6)] == [30, 60, 120, 200, 200]


def test_failures_retry_with_backoff_then_mark_failed(
    settings, smtp_down, django_capture_on_commit_callbacks
):
    settings.EMAIL_OUTBOX_MAX_ATTEMPTS = 3
    settings.EMAIL_OUTBOX_RETRY_BASE_SECONDS = 10
    with django_capture_on_commit_callbacks(execute=True):
        email_id = email_enqueue(to="ann@example.com", template="verify_email", context=VERIFY_CONTEXT)
    row = OutboundEmail.objects.get(pk=email_id)
    assert (row.status, row.attempts) == ("pending", 1)  # the on-commit attempt failed
    assert "ConnectionRefusedError" in row.last_error
    assert timedelta(seconds=8) < row.next_attempt_at - timezone.now() <= timedelta(seconds=10)

    assert email_send(email_id=email_id).retry_in == 20  # second failure: twice the delay
    assert email_send(email_id=email_id).status == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 3)
    # A failed row is never picked up again, by a task or by the re-dispatch.
    assert email_send(email_id=email_id).status == "skipped"
    OutboundEmail.objects.filter(pk=email_id).update(next_attempt_at=timezone.now() - timedelta(days=1))
    assert emails_redispatch_overdue() == 0


def test_a_second_hand_off_of_a_sent_row_sends_nothing():
    email_id = email_enqueue(to="ann@example.com", template="verify_email", context=VERIFY_CONTEXT)
    assert email_send(email_id=email_id).status == "sent"
    assert email_send(email_id=email_id).status == "skipped"
    assert len(mail.outbox) == 1


def test_redispatch_hands_over_only_overdue_pending_rows(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS = 300
    with unreachable_broker(), django_capture_on_commit_callbacks(execute=True):
        lost = email_enqueue(to="lost@example.com", template="verify_email", context=VERIFY_CONTEXT)
        email_enqueue(to="recent@example.com", template="verify_email", context=VERIFY_CONTEXT)
    OutboundEmail.objects.filter(pk=lost).update(next_attempt_at=timezone.now() - timedelta(seconds=301))
    assert emails_redispatch_overdue() == 1  # eager again: the hand-off sends it
    assert [m.to for m in mail.outbox] == [["lost@example.com"]]
    statuses = dict(OutboundEmail.objects.values_list("to_email", "status"))
    assert statuses == {"lost@example.com": "sent", "recent@example.com": "pending"}
    assert emails_redispatch_overdue() == 0
    assert len(mail.outbox) == 1


def test_unreachable_broker_keeps_the_row_pending_and_loses_nothing(django_capture_on_commit_callbacks):
    with unreachable_broker(), django_capture_on_commit_callbacks(execute=True):
        email_id = email_enqueue(to="ann@example.com", template="verify_email", context=VERIFY_CONTEXT)
    row = OutboundEmail.objects.get(pk=email_id)
    assert (row.status, row.attempts) == ("pending", 0)
    assert mail.outbox == []


def test_resend_puts_failed_rows_back(smtp_down, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_OUTBOX_MAX_ATTEMPTS = 1
    with django_capture_on_commit_callbacks(execute=True):
        email_id = email_enqueue(to="ann@example.com", template="verify_email", context=VERIFY_CONTEXT)
    assert OutboundEmail.objects.get(pk=email_id).status == "failed"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        assert emails_resend(email_ids=[email_id]) == 1
    row = OutboundEmail.objects.get(pk=email_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")
    assert len(mail.outbox) == 1


def test_purge_drops_old_sent_rows_only():
    old = email_enqueue(to="old@example.com", template="verify_email", context=VERIFY_CONTEXT)
    fresh = email_enqueue(to="fresh@example.com", template="verify_email", context=VERIFY_CONTEXT)
    email_send(email_id=old)
    email_send(email_id=fresh)
    failed = OutboundEmail.objects.create(
        to_email="x@example.com", template="t", subject="s", body_text="b", status="failed"
    )
    OutboundEmail.objects.filter(pk__in=[old, failed.pk]).update(sent_at=timezone.now() - timedelta(days=30))
    assert emails_purge_sent(older_than_days=7) == 1
    assert set(OutboundEmail.objects.values_list("pk", flat=True)) == {fresh, failed.pk}
