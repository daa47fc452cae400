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
        ]

    def __str__(self) -> str:
        return f"envelope {self.id} for {self.recipient_id}"
