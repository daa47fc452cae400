"""Writes of notifications: email goes through here.

FOUNDATION STUB: `email_enqueue` is the contract accounts and contacts send mail through. The
contacts/notifications issue (#4) replaces the body with the outbox: a row written in the
caller's transaction, handed to a Celery task after commit, retried, re-dispatched if stuck.
Templates: "verify_email" (context: username, verify_url, token) and "invitation" (context:
inviter_name, accept_url, token, expires_at).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction


def email_enqueue(*, to: str, template: str, context: dict[str, Any]) -> None:
    subject = f"[Messenger] {template.replace('_', ' ')}"
    body = "\n".join(f"{key}: {value}" for key, value in sorted(context.items()))
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to]))
