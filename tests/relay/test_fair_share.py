"""A sender's share of a recipient's queue (RELAY_MAX_PENDING_PER_SENDER): one account cannot
fill someone's queue and lock the real senders out (issue 14). Both stores."""

from __future__ import annotations

import pytest

from relay.selectors import envelopes_pending_count
from tests.relay.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("relay_store")]


def test_past_its_share_a_sender_gets_429_while_others_still_queue(
    queue, pending, client_for, user, other_user, make_user, settings, capture_events
):
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 10
    settings.RELAY_MAX_PENDING_PER_SENDER = 3
    flooder, friend = make_user(), make_user()
    flood = [queue(flooder, user, f"junk {n}".encode(), ttl_seconds=600).json()["id"] for n in range(3)]

    with capture_events() as sent:
        refused = queue(flooder, user, b"one more", expect=None)
    body = assert_error(refused, 429, "relay_queue_full")
    assert "share" in body["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 600  # until the flooder's oldest one expires
    assert sent == []

    # The real sender is not locked out, and the recipient sees both.
    kept = queue(friend, user, b"hello, it's me").json()["id"]
    assert [item["id"] for item in pending(user)["results"]] == [*flood, kept]
    # The flooder's share is per recipient: another queue takes its envelopes.
    queue(flooder, other_user, b"elsewhere")


def test_an_ack_gives_the_sender_its_slot_back(queue, client_for, user, make_user, settings):
    settings.RELAY_MAX_PENDING_PER_SENDER = 2
    sender = make_user()
    first = queue(sender, user).json()["id"]
    queue(sender, user)
    assert queue(sender, user, expect=None).status_code == 429
    assert client_for(user).delete(f"/api/v1/relay/{first}").status_code == 204
    queue(sender, user)
    assert queue(sender, user, expect=None).status_code == 429
    assert envelopes_pending_count(recipient_id=user.pk) == 2


def test_expired_envelopes_do_not_count_against_the_share(queue, user, make_user, settings, relay_store):
    settings.RELAY_MAX_PENDING_PER_SENDER = 1
    sender = make_user()
    queue(sender, user, ttl_seconds=1)
    assert queue(sender, user, expect=None).status_code == 429
    import time

    time.sleep(1.1)
    queue(sender, user)


def test_the_full_queue_still_answers_first(queue, user, make_user, settings):
    """A queue at its cap refuses everyone, sender share or not (nothing queued is dropped)."""
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 2
    settings.RELAY_MAX_PENDING_PER_SENDER = 1
    queue(make_user(), user)
    queue(make_user(), user)
    body = assert_error(queue(make_user(), user, expect=None), 429, "relay_queue_full")
    assert "share" not in body["detail"]


def test_ones_own_queue_has_no_share(queue, user, settings):
    """Device-to-device sync: a user's own queue keeps no one else out, so only the cap applies."""
    settings.RELAY_MAX_PENDING_PER_SENDER = 1
    settings.RELAY_MAX_PENDING_PER_RECIPIENT = 3
    for _ in range(3):
        queue(user, user)
    assert_error(queue(user, user, expect=None), 429, "relay_queue_full")


def test_the_default_share_is_a_tenth_of_the_cap(settings):
    assert settings.RELAY_MAX_PENDING_PER_SENDER == 1_000
    assert settings.RELAY_MAX_PENDING_PER_RECIPIENT == 10_000


@pytest.mark.parametrize("relay_store", ["redis"], indirect=True)
def test_redis_leaves_no_share_keys_behind(redis_store, user, make_user, settings):
    """The share index goes with the envelopes: acked ones leave it, a dropped queue takes it."""
    from relay.services import envelope_ack, envelope_queue, envelopes_drop_for_user

    sender = make_user()
    share = redis_store.share_key(user.pk, sender.pk)
    first = envelope_queue(sender_id=sender.pk, recipient_id=user.pk, payload=b"a")
    envelope_queue(sender_id=sender.pk, recipient_id=user.pk, payload=b"b")
    assert redis_store.client.zcard(share) == 2
    assert redis_store.client.pttl(share) > 0  # expires with the sender's last envelope

    envelope_ack(recipient_id=user.pk, envelope_id=first.id)
    assert redis_store.client.zcard(share) == 1
    envelopes_drop_for_user(user_id=user.pk)
    assert list(redis_store.client.scan_iter(match=f"{settings.RELAY_REDIS_PREFIX}:{{{user.pk}}}:*")) == []
