"""Writes of notifications: every email goes through the outbox here.

`email_enqueue` writes a row in the caller's transaction and, once that commits, hands the row's
id to a Celery task. The task sends under a row lock and marks the row `sent`; a failure is
retried with exponential backoff and, after the last attempt, marked `failed`. A periodic task
(`emails_redispatch_overdue`) hands again any pending row whose attempt is long overdue, so a
broker outage or a killed worker delays an email and never loses it; the row lock and the
`pending -> sent` transition make a duplicate hand-off harmless (it finds the row sent and stops).

This app knows no user model and no other app: it takes an address and a template name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from notifications.models import OutboundEmail
from notifications.tasks import send_outbound_email

logger = logging.getLogger(__name__)

# Each name has notifications/email/<name>/{subject.txt, body.txt, body.html}. Contexts:
# - verify_email: username, verify_url, token
# - invitation: inviter_name, accept_url, token, expires_at (an aware datetime)
# - invitation_existing: inviter_name, inviter_username. What an invitation to an address that
#   already has a verified account sends instead (no token: there is nothing to register).
# - unread_messages: username, unread_count, sender_names (list of str), open_url. For the
#   messaging app's "you have unread messages" email: it delays the email and re-checks the read
#   state before calling email_enqueue (the check is messaging's; this app knows no messages).
EMAIL_TEMPLATES = frozenset({"verify_email", "invitation", "invitation_existing", "unread_messages"})


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body_text: str
    body_html: str


@dataclass(frozen=True)
class SendOutcome:
    status: str  # "sent", "retry", "failed" or "skipped" (not pending, or another worker has it)
    retry_in: int | None = None


def email_render(*, template: str, context: dict[str, Any]) -> RenderedEmail:
    if template not in EMAIL_TEMPLATES:
        raise ValueError(f"Unknown email template {template!r}; known: {sorted(EMAIL_TEMPLATES)}")
    base = f"notifications/email/{template}"
    subject = " ".join(render_to_string(f"{base}/subject.txt", context).split())
    return RenderedEmail(
        subject=subject[:255],
        body_text=render_to_string(f"{base}/body.txt", context),
        body_html=render_to_string(f"{base}/body.html", context),
    )


def email_enqueue(*, to: str, template: str, context: dict[str, Any]) -> UUID:
    """Queue one email; it leaves only if the caller's transaction commits. Returns the row id.

    Call it inside the transaction of the action that causes the email (registration, an
    invitation): the row and the action commit or roll back together.
    """
    rendered = email_render(template=template, context=context)
    email = OutboundEmail.objects.create(
        to_email=to,
        template=template,
        subject=rendered.subject,
        body_text=rendered.body_text,
        body_html=rendered.body_html,
    )
    transaction.on_commit(partial(email_hand_to_queue, email_id=email.id))
    return email.id


def email_hand_to_queue(*, email_id: UUID | str) -> bool:
    """Publish the send task for one row. Never raises: when the broker is unreachable the row
    stays pending and the re-dispatch task hands it over later."""
    try:
        send_outbound_email.delay(str(email_id))
    except Exception as exc:  # kombu's OperationalError, a refused connection, a DNS failure...
        logger.warning(
            "Email %s stays pending: the task queue is unreachable (%s); it will be re-dispatched",
            email_id,
            exc.__class__.__name__,
        )
        return False
    return True


def retry_delay_seconds(*, attempts: int) -> int:
    """Exponential backoff after `attempts` failed attempts: base, 2*base, 4*base... capped."""
    base = settings.EMAIL_OUTBOX_RETRY_BASE_SECONDS
    return int(min(base * 2 ** max(attempts - 1, 0), settings.EMAIL_OUTBOX_RETRY_MAX_SECONDS))


def email_send(*, email_id: UUID | str) -> SendOutcome:
    """Send one pending row, at most once.

    The row is locked for the whole send (`skip_locked`: a second copy of the task for the same
    row gives up at once instead of waiting) and leaves `pending` in the same transaction, so two
    hand-offs of one row never both send it. A crash between the SMTP call and the commit leaves
    the row pending and it is sent again later: at least once, as SMTP allows, never twice in a
    healthy run.
    """
    with transaction.atomic():
        email = (
            OutboundEmail.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(pk=email_id, status=OutboundEmail.Status.PENDING)
            .first()
        )
        if email is None:
            return SendOutcome("skipped")
        message = EmailMultiAlternatives(
            subject=email.subject,
            body=email.body_text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[email.to_email],
        )
        if email.body_html:
            message.attach_alternative(email.body_html, "text/html")
        now = timezone.now()
        email.attempts += 1
        try:
            message.send(fail_silently=False)
        except Exception as exc:  # SMTP errors, refused connections, timeouts: all retryable
            email.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            if email.attempts >= settings.EMAIL_OUTBOX_MAX_ATTEMPTS:
                email.status = OutboundEmail.Status.FAILED
                email.save(update_fields=["attempts", "last_error", "status"])
                logger.error(
                    "Email %s failed after %s attempts: %s", email.pk, email.attempts, email.last_error
                )
                return SendOutcome("failed")
            delay = retry_delay_seconds(attempts=email.attempts)
            email.next_attempt_at = now + timedelta(seconds=delay)
            email.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            logger.warning(
                "Email %s attempt %s failed (%s); retry in %ss",
                email.pk,
                email.attempts,
                email.last_error,
                delay,
            )
            return SendOutcome("retry", retry_in=delay)
        email.status = OutboundEmail.Status.SENT
        email.sent_at = now
        email.save(update_fields=["attempts", "status", "sent_at"])
        return SendOutcome("sent")


def emails_redispatch_overdue(*, limit: int = 500) -> int:
    """Hand to the queue again every pending row whose attempt is overdue by more than
    EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS (lost on the way to a worker). Returns how many."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS)
    ids = list(
        OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return 0
    # Pushed forward first: the next scan leaves these alone for another re-dispatch delay.
    OutboundEmail.objects.filter(pk__in=ids, status=OutboundEmail.Status.PENDING).update(next_attempt_at=now)
    for email_id in ids:
        email_hand_to_queue(email_id=email_id)
    logger.info("Re-dispatched %s overdue email(s)", len(ids))
    return len(ids)


@transaction.atomic
def emails_resend(*, email_ids: list[UUID | str]) -> int:
    """Admin action: put rows back to pending with fresh attempts and hand them over on commit."""
    emails = list(OutboundEmail.objects.select_for_update(no_key=True).filter(pk__in=email_ids))
    for email in emails:
        email.status = OutboundEmail.Status.PENDING
        email.attempts = 0
        email.last_error = ""
        email.next_attempt_at = timezone.now()
        email.sent_at = None
        email.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", "sent_at"])
        transaction.on_commit(partial(email_hand_to_queue, email_id=email.pk))
    return len(emails)


def emails_purge_sent(*, older_than_days: int | None = None) -> int:
    """Sent rows carry tokens in their bodies: keep them only as long as they help support."""
    days = settings.EMAIL_OUTBOX_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT, sent_at__lt=cutoff).delete()
    return deleted
