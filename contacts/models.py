"""Contacts (one row per pair of users) and invitations (to people without an account yet)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least
from django.utils import timezone


class Contact(models.Model):
    """The relationship of two users, seen from both sides.

    `requester` asked `addressee`. `pending` until the addressee accepts; `accepted` both ways;
    `blocked` by `blocked_by` (either side). A block cuts the pair off both ways: neither side
    may message, add, invite or see the presence of the other. Only the blocker can lift it
    (DELETE), so the blocked side cannot undo a block by deleting the row.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        BLOCKED = "blocked", "Blocked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    addressee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    blocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "contacts"
        constraints = [
            # One row per unordered pair: A->B and B->A racing cannot both insert.
            models.UniqueConstraint(
                Least("requester", "addressee"),
                Greatest("requester", "addressee"),
                name="contacts_one_per_pair",
            ),
            models.CheckConstraint(condition=~Q(requester=F("addressee")), name="contacts_not_self"),
            models.CheckConstraint(
                condition=(Q(status="blocked") & Q(blocked_by__isnull=False))
                | (~Q(status="blocked") & Q(blocked_by__isnull=True)),
                name="contacts_blocked_iff_blocker",
            ),
        ]
        indexes = [
            models.Index(fields=["requester", "status"], name="contacts_requester_status_idx"),
            models.Index(fields=["addressee", "status"], name="contacts_addressee_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.requester_id} -> {self.addressee_id} ({self.status})"

    def other_id(self, user_id: uuid.UUID) -> uuid.UUID:
        return self.addressee_id if self.requester_id == user_id else self.requester_id


class Invitation(models.Model):
    """An invitation by email. The token itself is only in the email; the row keeps its hash."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    inviter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    invitee_email = models.EmailField(max_length=254, help_text="Stored lower-cased.")
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    last_sent_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "contacts_invitations"
        constraints = [
            models.UniqueConstraint(
                fields=["inviter", "invitee_email"],
                condition=Q(status="pending"),
                name="invitations_one_pending_per_address",
            ),
        ]
        indexes = [
            models.Index(
                fields=["invitee_email"], condition=Q(status="pending"), name="invitations_pending_email_idx"
            ),
            models.Index(
                fields=["expires_at"], condition=Q(status="pending"), name="invitations_pending_exp_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inviter_id} invites {self.invitee_email} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.EXPIRED or (
            self.status == self.Status.PENDING and self.expires_at <= timezone.now()
        )
