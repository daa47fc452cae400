"""Retries through a real worker: the mail server refuses every connection, the task retries
with exponential backoff (Celery countdowns 1 s, 2 s) and marks the row failed after the last
attempt. Skipped in the embedded mode; CI's real mode runs it."""

from __future__ import annotations

import re
import time

import pytest

from notifications.models import OutboundEmail
from notifications.services import email_enqueue
from tests.notifications.broker import closed_port
from tests.notifications.worker import skip_unless_real_services, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.real_celery, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def failing_smtp_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    skip_unless_real_services()
    with django_db_blocker.unblock():
        yield from start_worker(
            tmp_path_factory.mktemp("celery-worker-smtp-down"),
            extra_env={
                "EMAIL_URL": f"smtp://127.0.0.1:{closed_port()}",
                "EMAIL_OUTBOX_MAX_ATTEMPTS": "3",
                "EMAIL_OUTBOX_RETRY_BASE_SECONDS": "1",
                "EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS": "300",  # only Celery's retries act here
            },
        )


def test_refused_smtp_retries_with_backoff_then_fails(failing_smtp_worker):
    email_id = email_enqueue(
        to="nobody.home@example.com",
        template="verify_email",
        context={"username": "nobody", "verify_url": "https://m.example/v?t=x", "token": "x"},
    )
    deadline = time.monotonic() + 60
    row = OutboundEmail.objects.get(pk=email_id)
    while row.status != "failed" and time.monotonic() < deadline:
        time.sleep(0.25)
        row.refresh_from_db()
    log = failing_smtp_worker.log()
    assert row.status == "failed", log
    assert row.attempts == 3
    assert "ConnectionRefusedError" in row.last_error
    # Two retries, the second after twice the delay of the first; nothing after the last attempt.
    assert re.findall(r"Retry in (\d+)s", log) == ["1", "2"], log
    assert "'failed'" in log
