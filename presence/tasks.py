"""Background work of presence."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="presence.sweep", ignore_result=True)
def presence_sweep() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE["presence-sweep"]): users whose every connection expired
    without closing (a crashed server process) go offline, each announced once."""
    from presence.services import presence_sweep as sweep

    return sweep()
