"""The email outbox: every email is a row first, written in the transaction of the action that
causes it, so an email exists exactly when the action committed (the transactional outbox)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class OutboundEmail(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    to_email = models.EmailField(max_length=254)
    template = models.CharField(max_length=64)
    # Rendered when enqueued: a template error fails the caller's transaction, not a worker later,
    # and what is sent is exactly what was decided at the time of the action.
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # When the next attempt is due (now on enqueue, later after a failure's backoff). A pending
    # row whose attempt is overdue by more than the re-dispatch delay was lost on the way to a
    # worker (broker down, worker killed) and is handed to the queue again.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "notifications_outbound_email"
        ordering = ("-created_at",)
        indexes = [
            # The re-dispatch scan: pending rows by due time.
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_pending_due_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["status", "created_at"], name="outbox_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.template} to {self.to_email} ({self.status})"
