"""Races on PostgreSQL: two requests crossing each other, two sends to one address."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.conf import settings
from django.db import connection

from contacts.models import Contact, Invitation
from contacts.services import contact_request, invitation_send

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(settings.DATABASE_VENDOR != "postgresql", reason="row locks need PostgreSQL"),
]


def race(*calls: Callable[[], object]) -> list[object]:
    """Run the calls at the same moment, each on its own connection; return results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.parametrize("attempt", range(3))
def test_crossing_requests_end_as_one_accepted_contact(make_user, attempt):
    ann, bob = make_user(), make_user()
    results = race(
        lambda: contact_request(requester_id=ann.pk, addressee_id=bob.pk),
        lambda: contact_request(requester_id=bob.pk, addressee_id=ann.pk),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.created for r in results) == [False, True]
    [contact] = Contact.objects.all()
    assert contact.status == "accepted"


def test_concurrent_sends_to_one_address_keep_one_pending_invitation(make_user):
    ann = make_user()
    results = race(*[lambda: invitation_send(inviter_id=ann.pk, email="friend@example.com")] * 3)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.invitation.pk for r in results}) == 1
    assert Invitation.objects.filter(status="pending").count() == 1
