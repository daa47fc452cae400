"""Background work of the realtime layer."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="realtime.presence_sweep", ignore_result=True)
def presence_sweep() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE["realtime-presence-sweep"]): users whose every connection
    expired without closing (a crashed server process) go offline, each announced once."""
    from messenger.realtime.presence import presence_sweep as sweep

    return sweep()
