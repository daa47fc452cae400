"""Celery tasks of the outbox. They take ids; the services own the rules."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="notifications.send_outbound_email", bind=True, acks_late=True, ignore_result=True)
def send_outbound_email(self, email_id: str) -> str:
    from notifications.services import email_send

    outcome = email_send(email_id=email_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        # The backoff lives in the row (attempts, next_attempt_at); Celery only carries the delay.
        # If this retry is lost too (broker down, worker killed), the re-dispatch task finds
        # the row overdue and hands it over again.
        raise self.retry(countdown=outcome.retry_in, max_retries=None)
    return outcome.status


@shared_task(name="notifications.redispatch_overdue_emails", ignore_result=True)
def redispatch_overdue_emails() -> int:
    from notifications.services import emails_redispatch_overdue

    return emails_redispatch_overdue()


@shared_task(name="notifications.purge_sent_emails", ignore_result=True)
def purge_sent_emails() -> int:
    from notifications.services import emails_purge_sent

    return emails_purge_sent()
