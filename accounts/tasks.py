"""Periodic tasks of the accounts app (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="accounts.purge_unverified_accounts", ignore_result=True)
def purge_unverified_accounts() -> int:
    from accounts.services import unverified_accounts_purge

    return unverified_accounts_purge()
