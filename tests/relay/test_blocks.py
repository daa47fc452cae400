"""Blocks hold in the relay too (issue 14): a sender the recipient blocked, or who blocked the
recipient, cannot queue (403 `blocked`, as the messaging send answers). Relay may not read
contacts, so it keeps a replica that contacts' block services write. Both stores."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection, transaction

from contacts.models import Contact
from relay.selectors import envelopes_pending_count
from tests.factories import DEFAULT_PASSWORD
from tests.relay.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("relay_store")]


def contact_between(client, other) -> str:
    response = client.post("/api/v1/contacts", {"user_id": str(other.pk)}, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()["id"]


def block(client, contact_id: str) -> None:
    response = client.patch(f"/api/v1/contacts/{contact_id}", {"status": "blocked"}, format="json")
    assert response.status_code == 200, response.content


@pytest.fixture
def blocked_pair(user, other_user, client_for):
    """`other_user` asked `user`; `user` blocked them. Returns the contact id."""
    contact_id = contact_between(client_for(other_user), user)
    block(client_for(user), contact_id)
    return contact_id


def test_the_blocked_sender_cannot_queue_to_the_blocker(
    queue, pending, user, other_user, blocked_pair, capture_events
):
    with capture_events() as sent:
        refused = queue(other_user, user, b"let me in", expect=None)
    assert_error(refused, 403, "blocked")
    assert sent == []
    assert pending(user)["results"] == []


def test_the_blocker_cannot_queue_to_whom_they_blocked(queue, user, other_user, blocked_pair):
    assert_error(queue(user, other_user, expect=None), 403, "blocked")
    assert envelopes_pending_count(recipient_id=other_user.pk) == 0


def test_others_are_not_affected(queue, pending, user, other_user, make_user, blocked_pair):
    stranger = make_user()
    queue(stranger, user, b"hi")
    queue(user, stranger, b"hi back")
    queue(other_user, other_user, b"my own devices")  # one's own queue: no block with oneself
    assert [item["sender_id"] for item in pending(user)["results"]] == [str(stranger.pk)]


def test_lifting_the_block_lets_both_queue_again(queue, client_for, user, other_user, blocked_pair):
    assert client_for(user).delete(f"/api/v1/contacts/{blocked_pair}").status_code == 204
    queue(other_user, user, b"back")
    queue(user, other_user, b"welcome")


def test_a_block_from_an_accepted_contact_holds_too(queue, client_for, user, other_user):
    contact_id = contact_between(client_for(user), other_user)
    contact_between(client_for(other_user), user)  # asking back accepts
    queue(user, other_user)
    block(client_for(other_user), contact_id)
    assert_error(queue(user, other_user, expect=None), 403, "blocked")
    assert_error(queue(other_user, user, expect=None), 403, "blocked")


def test_a_block_that_rolls_back_leaves_the_relay_open(queue, user, other_user, client_for):
    from contacts.services import contact_set_status

    contact_id = contact_between(client_for(other_user), user)
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_set_status(contact_id=contact_id, actor_id=user.pk, status="blocked")
        raise RuntimeError("something after the block failed")
    queue(other_user, user, b"still open")


def test_account_deletion_forgets_the_users_blocks(client_for, user, other_user, blocked_pair):
    from relay.models import Block

    assert Block.objects.filter(blocker_id=user.pk).exists()
    response = client_for(user).delete("/api/v1/auth/me", {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 204, response.content
    assert not Block.objects.filter(blocker_id=user.pk).exists()
    assert not Block.objects.filter(blocked_id=user.pk).exists()


def test_the_migration_backfills_blocks_that_existed_before(queue, user, other_user, make_user):
    """Blocks stored before the replica existed: the data migration copies them (both holders)."""
    from relay.models import Block

    third = make_user()
    Contact.objects.create(requester=other_user, addressee=user, status="blocked", blocked_by=user)
    Contact.objects.create(requester=user, addressee=third, status="blocked", blocked_by=third)
    Contact.objects.create(requester=third, addressee=other_user, status="accepted")
    Block.objects.all().delete()  # as before the replica: the rows were written behind its back
    queue(other_user, user)  # the gap the backfill closes

    migration = importlib.import_module("relay.migrations.0003_backfill_blocks")
    # What `migrate` hands it on a database where contacts is migrated (its model in the state).
    editor = SimpleNamespace(connection=connection)
    migration.copy_blocks(apps, editor)
    migration.copy_blocks(apps, editor)  # idempotent

    assert_error(queue(other_user, user, expect=None), 403, "blocked")
    assert_error(queue(user, third, expect=None), 403, "blocked")
    queue(third, other_user)  # an accepted pair is no block
    assert Block.objects.count() == 2


def test_blocking_the_flooders_frees_the_queue_for_the_real_sender(
    queue, pending, client_for, user, make_user, settings, django_capture_on_commit_callbacks
):
    """Issue 14's story: accounts fill a recipient's queue (each within its share) and the real
    sender gets 429. The recipient blocks them: what they queued goes, the real sender gets in,
    and what other senders queued stays."""
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 5
    settings.RELAY_MAX_PENDING_PER_SENDER = 2
    flooders, friend, bystander = [make_user(), make_user()], make_user(), make_user()
    kept = queue(bystander, user, b"keep me").json()["id"]
    for flooder in flooders:
        queue(flooder, user, b"junk")
        queue(flooder, user, b"junk")
    assert_error(queue(friend, user, expect=None), 429, "relay_queue_full")

    for flooder in flooders:  # a block needs no accepted contact: ask, then block
        contact_id = contact_between(client_for(user), flooder)
        with django_capture_on_commit_callbacks(execute=True):
            block(client_for(user), contact_id)

    assert [item["id"] for item in pending(user)["results"]] == [kept]
    arrived = queue(friend, user, b"finally").json()["id"]
    assert [item["id"] for item in pending(user)["results"]] == [kept, arrived]


def test_a_block_that_rolls_back_drops_nothing(
    queue, pending, user, other_user, client_for, django_capture_on_commit_callbacks
):
    from contacts.services import contact_set_status

    queued = queue(other_user, user, b"stays").json()["id"]
    contact_id = contact_between(client_for(other_user), user)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        contact_set_status(contact_id=contact_id, actor_id=user.pk, status="blocked")
        raise RuntimeError("something after the block failed")
    assert [item["id"] for item in pending(user)["results"]] == [queued]
