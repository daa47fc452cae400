"""The periodic tasks of notifications and contacts: in beat's schedule, and registered under the
names the schedule uses (a typo would make beat send a task no worker knows, silently)."""

from __future__ import annotations

import pytest
from django.conf import settings

from messenger.celery import app

PERIODIC = {
    "notifications-redispatch-overdue-emails": "notifications.redispatch_overdue_emails",
    "notifications-purge-sent-emails": "notifications.purge_sent_emails",
    "contacts-expire-invitations": "contacts.expire_invitations",
}


@pytest.mark.parametrize(("entry", "task_name"), PERIODIC.items())
def test_periodic_task_is_scheduled_and_registered(entry, task_name):
    app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks
    schedule = settings.CELERY_BEAT_SCHEDULE[entry]
    assert schedule["task"] == task_name
    assert float(schedule["schedule"]) > 0
    assert task_name in app.tasks
    assert app.conf.beat_schedule[entry]["task"] == task_name
