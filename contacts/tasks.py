"""Periodic tasks of the contacts app (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="contacts.expire_invitations", ignore_result=True)
def expire_invitations() -> int:
    from contacts.services import invitations_expire

    return invitations_expire()
