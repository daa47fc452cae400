"""The public surface the realtime gateway codes against (relay/__init__.py, "The gateway's side"),
exercised through the functions themselves, on both stores."""

from __future__ import annotations

import base64
import dataclasses
import inspect
import uuid
from datetime import UTC

import pytest
from django.db import transaction

from core.events import realtime_user_group_name
from core.exceptions import NotFound, ServiceUnavailable
from relay.events import RELAY_ENVELOPE, envelope_event_data
from relay.exceptions import EnvelopeNotFound, RelayUnavailable
from relay.selectors import RelayEnvelope, envelopes_pending
from relay.services import envelope_ack, envelope_queue
from relay.store import RelayEnvelope as StoreRelayEnvelope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("relay_store")]


def test_the_names_and_shapes_are_the_contracts():
    assert RelayEnvelope is StoreRelayEnvelope
    assert dataclasses.is_dataclass(RelayEnvelope) and RelayEnvelope.__dataclass_params__.frozen
    assert [f.name for f in dataclasses.fields(RelayEnvelope)] == [
        "id",
        "sender_id",
        "recipient_id",
        "payload",
        "created_at",
        "expires_at",
    ]
    for function, required in [
        (envelopes_pending, {"recipient_id"}),
        (envelope_queue, {"sender_id", "recipient_id", "payload"}),
        (envelope_ack, {"recipient_id", "envelope_id"}),
    ]:
        parameters = inspect.signature(function).parameters.values()
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters), function
        assert {p.name for p in parameters if p.default is inspect.Parameter.empty} == required
    assert inspect.signature(envelope_queue).parameters["ttl_seconds"].default is None
    assert RELAY_ENVELOPE == "relay.envelope"
    assert issubclass(EnvelopeNotFound, NotFound) and EnvelopeNotFound.status_code == 404
    assert issubclass(RelayUnavailable, ServiceUnavailable) and RelayUnavailable.status_code == 503


def test_queue_returns_the_envelope_and_publishes_one_pending_item(
    user, other_user, capture_events, client_for
):
    with capture_events() as sent:
        envelope = envelope_queue(sender_id=user.pk, recipient_id=str(other_user.pk), payload=b"\x00\xffkey")

    assert isinstance(envelope, RelayEnvelope)
    assert envelope.sender_id == user.pk and envelope.recipient_id == other_user.pk
    assert envelope.payload == b"\x00\xffkey"
    assert envelope.created_at.tzinfo is not None and envelope.created_at.utcoffset() == UTC.utcoffset(None)
    assert (envelope.expires_at - envelope.created_at).total_seconds() == 7 * 24 * 3600

    assert sent == [
        {
            "groups": [realtime_user_group_name(other_user.pk)],
            "type": "relay.envelope",
            "data": envelope_event_data(envelope),
        }
    ]
    data = sent[0]["data"]
    assert set(data) == {"id", "sender_id", "recipient_id", "payload", "created_at", "expires_at"}
    assert base64.b64decode(data["payload"], validate=True) == b"\x00\xffkey"
    # exactly one item of GET /relay/pending/{userId}
    page = client_for(other_user).get(f"/api/v1/relay/pending/{other_user.pk}").json()
    assert page["results"] == [data]


def test_pending_lists_only_the_recipients_unexpired_envelopes_oldest_first(user, other_user, make_user):
    third = make_user()
    first = envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"1", ttl_seconds=3600)
    envelope_queue(sender_id=user.pk, recipient_id=third.pk, payload=b"not yours")
    second = envelope_queue(sender_id=third.pk, recipient_id=other_user.pk, payload=b"2", ttl_seconds=60)

    assert envelopes_pending(recipient_id=other_user.pk) == [first, second]
    assert envelopes_pending(recipient_id=str(other_user.pk)) == [first, second]
    assert envelopes_pending(recipient_id=user.pk) == []
    assert envelopes_pending(recipient_id="not-a-uuid") == []


def test_ack_removes_and_refuses_unknown_others_and_repeats(user, other_user):
    envelope = envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"x")

    for recipient, envelope_id in [
        (user.pk, envelope.id),  # the sender is not the recipient
        (other_user.pk, uuid.uuid4()),
        (other_user.pk, "garbage"),
    ]:
        with pytest.raises(EnvelopeNotFound):
            envelope_ack(recipient_id=recipient, envelope_id=envelope_id)
    assert envelopes_pending(recipient_id=other_user.pk) == [envelope]

    envelope_ack(recipient_id=str(other_user.pk), envelope_id=str(envelope.id))
    assert envelopes_pending(recipient_id=other_user.pk) == []
    with pytest.raises(EnvelopeNotFound):
        envelope_ack(recipient_id=other_user.pk, envelope_id=envelope.id)


def test_a_rolled_back_caller_publishes_nothing(user, other_user, capture_events):
    with capture_events() as sent, pytest.raises(RuntimeError), transaction.atomic():
        envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"x")
        raise RuntimeError("the caller's transaction failed")
    assert sent == []
