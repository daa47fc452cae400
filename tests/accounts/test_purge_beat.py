"""The unverified-account purge as it runs in production: beat schedules
`accounts.purge_unverified_accounts` (its period shortened to 1 s for the test) and a real
`celery -A messenger worker` runs it against the test database.

Skipped in the embedded mode (no broker to run a worker against); CI's real mode runs it.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import DeletedUser, User
from contacts.models import Contact
from tests.notifications.worker import skip_unless_real_services, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.real_celery, pytest.mark.django_db(transaction=True)]


def test_beat_and_a_real_worker_purge_a_stale_unverified_account(make_user, tmp_path):
    skip_unless_real_services()
    stale = make_user(is_verified=False)
    kept = make_user(is_verified=False)
    friend = make_user()
    Contact.objects.create(requester=friend, addressee=stale, status=Contact.Status.ACCEPTED)
    User.objects.filter(pk=stale.pk).update(
        date_joined=timezone.now() - timedelta(hours=settings.UNVERIFIED_ACCOUNT_TTL_HOURS + 1)
    )

    for worker in start_worker(tmp_path, extra_env={"UNVERIFIED_ACCOUNT_PURGE_EVERY_SECONDS": "1"}):
        deadline = time.monotonic() + 60
        while User.objects.get(pk=stale.pk).deleted_at is None:
            assert time.monotonic() < deadline, f"the purge did not run:\n{worker.log()}"
            assert worker.process.poll() is None, worker.log()
            time.sleep(0.3)
        assert "accounts.purge_unverified_accounts" in worker.log()
    # Deleted through the deletion service: scrubbed, recorded, and contacts dropped its rows.
    assert User.objects.get(pk=stale.pk).email.endswith("@deleted.invalid")
    assert DeletedUser.objects.get(former_user_id=stale.pk).reason == "unverified"
    assert not Contact.objects.exists()
    assert User.objects.get(pk=kept.pk).deleted_at is None
