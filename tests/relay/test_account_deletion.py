"""Account deletion (DELETE /auth/me) drops the user's relay queue, once the deletion commits.
Both stores."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.services import user_delete
from relay.selectors import envelopes_pending, envelopes_pending_count
from relay.services import envelope_queue
from tests.factories import DEFAULT_PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("relay_store")]


def test_deleting_the_account_drops_its_queue_and_keeps_what_it_sent(
    client_for, user, other_user, make_user, django_capture_on_commit_callbacks
):
    third = make_user()
    for sender in (other_user, third):
        envelope_queue(sender_id=sender.pk, recipient_id=user.pk, payload=b"to the leaver")
    sent_by_leaver = envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"from the leaver")
    untouched = envelope_queue(sender_id=third.pk, recipient_id=other_user.pk, payload=b"unrelated")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).delete("/api/v1/auth/me", {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 204, response.content

    assert envelopes_pending(recipient_id=user.pk) == []
    assert envelopes_pending_count(recipient_id=user.pk) == 0
    # What the deleted user sent stays for its recipients, as their messages do.
    assert envelopes_pending(recipient_id=other_user.pk) == [sent_by_leaver, untouched]
    # And nobody can queue to the deleted account any more.
    refused = client_for(other_user).post(
        "/api/v1/relay/queue", {"recipient_id": str(user.pk), "payload": "eA=="}, format="json"
    )
    assert refused.status_code == 404 and refused.json()["code"] == "recipient_not_found"


def test_a_deletion_that_rolls_back_keeps_the_queue(user, other_user, django_capture_on_commit_callbacks):
    envelope = envelope_queue(sender_id=other_user.pk, recipient_id=user.pk, payload=b"keep me")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        user_delete(user_id=user.pk, reason="user_request")
        raise RuntimeError("something after the signal failed")
    assert envelopes_pending(recipient_id=user.pk) == [envelope]
