"""Background work of messaging. Tasks take ids and call one service; they own their retries."""

from __future__ import annotations

import time

from celery import shared_task


@shared_task(name="messaging.send_unread_messages_email", bind=True, acks_late=True, ignore_result=True)
def send_unread_messages_email(self, user_id: str, due_at: float) -> str:
    """Scheduled on commit of a send with `countdown=MESSAGING_UNREAD_EMAIL_DELAY_SECONDS`;
    `due_at` (epoch seconds) is when the delay ends. The service re-checks everything then."""
    from messaging.services import unread_email_send

    remaining = due_at - time.time()
    if remaining > 0:
        if self.request.is_eager:
            # The embedded mode runs tasks in-process at once and cannot wait: no early email.
            return "not_due"
        raise self.retry(countdown=remaining, max_retries=None)  # delivered early (clock skew)
    outcome = unread_email_send(user_id=user_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in, max_retries=None)
    return outcome.status
