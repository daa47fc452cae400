"""1:1 messages, the per-user conversation summaries and the per-user sync events.

Positions (`stream_position`, `MessageEvent.position`) come from `core.stream`, the one
monotonic counter every /sync source shares, so a client's token is a single integer.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

# Conversation keys are uuid5 names in this namespace: the same pair always gives the same key.
CONVERSATION_NAMESPACE = uuid.UUID("0b7b3f1e-51b4-4b4e-9c7e-3a7f2f0c6d11")


def conversation_key_for(user_a: uuid.UUID | str, user_b: uuid.UUID | str) -> uuid.UUID:
    """One key per unordered pair of users: a conversation page is one index range scan."""
    low, high = sorted((str(user_a), str(user_b)))
    return uuid.uuid5(CONVERSATION_NAMESPACE, f"{low}:{high}")


class Message(models.Model):
    """One encrypted 1:1 message. The server stores ciphertext and metadata, never plaintext.

    Deleting for everyone wipes the ciphertext and keys and keeps the row as a tombstone;
    deleting for me sets that side's `*_hidden_position`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column FK indexes: the composite indexes below lead with these columns.
    # PROTECT: accounts deactivates and scrubs a deleted user, it never removes the row, so the
    # peer's history keeps its sender.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    conversation_key = models.UUIDField(editable=False)
    encrypted_content = models.BinaryField()
    encrypted_session_key = models.BinaryField()
    sender_encrypted_session_key = models.BinaryField(null=True, blank=True)
    crypto_version = models.CharField(max_length=32)
    encryption_algorithm = models.CharField(max_length=64)
    client_message_id = models.UUIDField(null=True, blank=True)
    # Media ids, no FK: media stays a separate context (and extractable); media checks its grants.
    attachment_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()
    # Unique: one position per message across the stream (the database holds the invariant), and
    # the index the admin's newest-first list scans (without it: a sort of the whole table).
    stream_position = models.BigIntegerField(unique=True)
    read_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Set (to the hide event's position) when that side deleted the message "for me".
    sender_hidden_position = models.BigIntegerField(null=True, blank=True)
    recipient_hidden_position = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "messaging_message"
        constraints = [
            # Idempotent sends: a retried client_message_id can never make a second row, even
            # when two retries race (NULLs never conflict, so messages without one are free).
            models.UniqueConstraint(fields=["sender", "client_message_id"], name="msg_sender_client_id_uniq"),
        ]
        indexes = [
            # A conversation page: newest first within one pair, one backward range scan.
            models.Index(fields=["conversation_key", "stream_position"], name="msg_conversation_position"),
            # /sync: what the user received / sent after a position, oldest first.
            models.Index(fields=["recipient", "stream_position"], name="msg_recipient_position"),
            models.Index(fields=["sender", "stream_position"], name="msg_sender_position"),
            # Unread counts of the conversations list: only unread rows are in it.
            models.Index(
                fields=["recipient", "sender"],
                name="msg_unread_by_recipient",
                condition=Q(read_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def is_hidden_for(self, user_id: uuid.UUID) -> bool:
        if user_id == self.sender_id:
            return self.sender_hidden_position is not None
        if user_id == self.recipient_id:
            return self.recipient_hidden_position is not None
        return True


class Conversation(models.Model):
    """One user's view of one 1:1 conversation: the row the conversations list reads.

    Upserted for both sides by every send (one statement), so the list is an index scan of
    the owner's rows ordered by `last_position`, however many messages there are.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    peer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The newest message the owner has not hidden; NULL once they hid them all (then unlisted).
    last_message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, related_name="+")
    last_position = models.BigIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "messaging_conversation"
        constraints = [
            models.UniqueConstraint(fields=["owner", "peer"], name="msg_conv_owner_peer_uniq"),
        ]
        indexes = [
            models.Index(fields=["owner", "-last_position"], name="msg_conv_owner_recent"),
        ]

    def __str__(self) -> str:
        return f"conversation {self.owner_id} -> {self.peer_id}"


class MessageEvent(models.Model):
    """A change to a message one user's devices must learn through /sync: a read receipt, a
    deletion for everyone, or the user's own "delete for me". New messages need no row: /sync
    reads them from `Message.stream_position`."""

    class Kind(models.TextChoices):
        READ = "read", "Read"
        DELETED = "deleted", "Deleted for everyone"
        HIDDEN = "hidden", "Deleted for me"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    position = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "messaging_message_event"
        constraints = [
            models.UniqueConstraint(fields=["user", "position"], name="msg_event_user_position_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.message_id} for {self.user_id} at {self.position}"


class UnreadEmailState(models.Model):
    """Per user: what the last "you have unread messages" email covered, so that one burst of
    messages gives one email and a message is never announced twice (messaging.services)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    # The newest message position the last email counted (0: never emailed).
    last_position = models.BigIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "messaging_unread_email_state"

    def __str__(self) -> str:
        return f"unread email state of {self.user_id}"
