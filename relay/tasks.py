"""Background work of the relay. Tasks take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from relay.exceptions import RelayUnavailable


@shared_task(name="relay.purge_expired", ignore_result=True)
def purge_expired() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE["relay-purge-expired"]): drops expired envelopes' index
    entries and rows. Redis expires the payloads by itself; this keeps the indexes small."""
    from relay.services import envelopes_purge_expired

    return envelopes_purge_expired()


@shared_task(
    name="relay.drop_user_queue",
    ignore_result=True,
    autoretry_for=(RelayUnavailable,),
    retry_backoff=True,
    max_retries=8,
)
def drop_user_queue(user_id: str) -> int:
    """Account deletion: the deleted user's queue goes (retried while Redis is down)."""
    from relay.services import envelopes_drop_for_user

    return envelopes_drop_for_user(user_id=user_id)


@shared_task(
    name="relay.drop_from_sender",
    ignore_result=True,
    autoretry_for=(RelayUnavailable,),
    retry_backoff=True,
    max_retries=8,
)
def drop_from_sender(recipient_id: str, sender_id: str) -> int:
    """A block: what the blocked sender had queued for the blocker goes (retried while Redis is
    down)."""
    from relay.services import envelopes_drop_from_sender

    return envelopes_drop_from_sender(recipient_id=recipient_id, sender_id=sender_id)
