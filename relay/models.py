"""The database store's table (the embedded mode, or RELAY_STORE=database).

No foreign key to accounts: the relay is built to be lifted out into its own service with its
own database, and the Redis store has no such link either. Account deletion drops a queue
through accounts.events.user_deleted (relay.receivers) instead of a cascade.
"""

from __future__ import annotations

from django.db import models


class Envelope(models.Model):
    id = models.UUIDField(primary_key=True)
    recipient_id = models.UUIDField()
    sender_id = models.UUIDField()
    payload = models.BinaryField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "relay_envelopes"
        indexes = [
            # Pending (oldest first, keyset cursor), the per-recipient count and the queue drop.
            models.Index(fields=["recipient_id", "created_at", "id"], name="relay_env_recipient_order"),
            # The periodic purge of expired rows.
            models.Index(fields=["expires_at"], name="relay_env_expires_at"),
            # One sender's share of a recipient's queue (RELAY_MAX_PENDING_PER_SENDER).
            models.Index(fields=["recipient_id", "sender_id", "expires_at"], name="relay_env_sender_share"),
        ]

    def __str__(self) -> str:
        return f"envelope {self.id} for {self.recipient_id}"


class Block(models.Model):
    """Relay's replica of who blocked whom: `blocker_id` blocked `blocked_id` (contacts owns the
    blocks; relay only keeps the pairs it must refuse, so a relay-only process, which has no
    contacts, can enforce them). Written by contacts' block services through
    relay.services.block_record / block_forget, in the same transaction as the block itself;
    backfilled from contacts by migration 0003. One row per holder: the pair is refused both
    ways whichever side holds it.
    """

    id = models.BigAutoField(primary_key=True)
    blocker_id = models.UUIDField()
    blocked_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "relay_blocks"
        constraints = [
            models.UniqueConstraint(fields=["blocker_id", "blocked_id"], name="relay_blocks_one_per_pair"),
        ]
        indexes = [
            # The other direction of the pair check, and account deletion's cleanup.
            models.Index(fields=["blocked_id", "blocker_id"], name="relay_blocks_blocked"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocked {self.blocked_id}"
