"""Hostile claimers (issue 14): several accounts cannot drain one target's one-time prekeys (a
per-target budget, THROTTLE_KEYS_CLAIM_TARGET), the bundle without one-time prekeys still starts
a session, and the owner learns when few are left (`keys.low`, once per crossing)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from core.events import realtime_user_group_name
from tests.accounts.test_keys import COUNT, KEYS, bundle, claim_path, key
from tests.conftest import bearer_client
from tests.realtime.test_verify_action import FRAME_TIMEOUT, QUIET, _receive_all_now, devices  # noqa: F401

pytestmark = pytest.mark.django_db


def test_several_callers_cannot_drain_one_target(user, user_client, make_user, client_for, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "keys_claim_target": "3/h"}
    sent = bundle(range(10))
    user_client.put(KEYS, sent, format="json")

    answers = [client_for(make_user()).get(claim_path(user)) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 6  # nobody is locked out...
    handed_out = [answer.json()["one_time_prekey"] for answer in answers]
    assert [item["key_id"] for item in handed_out[:3]] == [0, 1, 2]
    assert handed_out[3:] == [None, None, None]  # ...but past the budget no prekey goes
    for answer in answers[3:]:  # and the session still starts on the signed prekey
        body = answer.json()
        assert body["identity_key"] == sent["identity_key"]
        assert body["signed_prekey"] == sent["signed_prekey"]
    assert user_client.get(COUNT).json() == {"one_time_prekeys": 7}

    # The budget is the target's: another user's prekeys are handed out as usual.
    other = make_user()
    client_for(other).put(KEYS, bundle(range(2)), format="json")
    assert client_for(make_user()).get(claim_path(other)).json()["one_time_prekey"]["key_id"] == 0


def test_the_defaults(settings):
    assert settings.THROTTLE_RATES["keys_claim_target"] == "60/h"
    assert settings.ACCOUNTS_PREKEYS_LOW_THRESHOLD == 10


def test_when_one_time_prekeys_run_out_the_bundle_still_serves_the_signed_prekey(
    user, user_client, other_user, client_for
):
    """As Signal does: X3DH goes on without a one-time prekey (what the server did already)."""
    sent = bundle(range(1))
    user_client.put(KEYS, sent, format="json")
    claimer = client_for(other_user)
    assert claimer.get(claim_path(user)).json()["one_time_prekey"] == sent["one_time_prekeys"][0]
    empty = claimer.get(claim_path(user))
    assert empty.status_code == 200
    assert empty.json() == {
        "user_id": str(user.pk),
        "identity_key": sent["identity_key"],
        "signed_prekey": sent["signed_prekey"],
        "one_time_prekey": None,
    }


def keys_low_events(sent: list[dict]) -> list[dict]:
    return [event for event in sent if event["type"] == "keys.low"]


def test_the_owner_hears_once_when_a_claim_crosses_the_threshold(
    user, user_client, make_user, client_for, settings, capture_events
):
    settings.ACCOUNTS_PREKEYS_LOW_THRESHOLD = 3
    user_client.put(KEYS, bundle(range(5)), format="json")
    claimers = [client_for(make_user()) for _ in range(6)]

    heard = []
    for claimer in claimers[:4]:  # 5 -> 4 -> 3 -> 2 (crossing) -> 1
        with capture_events() as sent:
            assert claimer.get(claim_path(user)).status_code == 200
        heard.append(keys_low_events(sent))
    assert heard[:2] == [[], []]
    assert heard[2] == [
        {"groups": [realtime_user_group_name(user.pk)], "type": "keys.low", "data": {"one_time_prekeys": 2}}
    ]
    assert heard[3] == []  # once per crossing, not once per claim
    assert user_client.get(COUNT).json() == {"one_time_prekeys": 1}

    # Refilled, then drained below again: a new crossing, a new event.
    refill = {"one_time_prekeys": [{"key_id": 100 + n, "public_key": key(32)} for n in range(3)]}
    with capture_events():  # the upload commits (and clears the flag on commit)
        assert user_client.put(KEYS, refill, format="json").json() == {"one_time_prekeys": 4}
    with capture_events() as sent:
        claimers[4].get(claim_path(user))  # 4 -> 3: not below
        claimers[5].get(claim_path(user))  # 3 -> 2: below again
    assert [event["data"] for event in keys_low_events(sent)] == [{"one_time_prekeys": 2}]


def test_claims_past_the_budget_or_of_nothing_send_no_event(
    user, user_client, make_user, client_for, settings, capture_events
):
    settings.ACCOUNTS_PREKEYS_LOW_THRESHOLD = 3
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "keys_claim_target": "1/h"}
    user_client.put(KEYS, bundle(range(3)), format="json")
    with capture_events() as sent:
        client_for(make_user()).get(claim_path(user))  # 3 -> 2: below, told
        client_for(make_user()).get(claim_path(user))  # over budget: nothing taken, nothing said
    assert [event["data"] for event in keys_low_events(sent)] == [{"one_time_prekeys": 2}]


@pytest.mark.django_db(transaction=True)
async def test_keys_low_reaches_every_device_of_the_owner_and_matches_the_count(make_user, settings, devices):  # noqa: F811
    """On real sockets: the frame's data is what GET /keys/count then answers; the claimer's
    socket gets nothing."""
    settings.ACCOUNTS_PREKEYS_LOW_THRESHOLD = 2
    owner, claimer = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    await sync_to_async(lambda: bearer_client(owner).put(KEYS, bundle(range(2)), format="json"))()
    phone, laptop, theirs = await devices(("phone", owner), ("laptop", owner), ("claimer", claimer))

    response = await sync_to_async(lambda: bearer_client(claimer).get(claim_path(owner)))()
    assert response.status_code == 200
    count = await sync_to_async(lambda: bearer_client(owner).get(COUNT).json())()
    for device in (phone, laptop):
        frame = await device.socket.receive_json_from(timeout=FRAME_TIMEOUT)
        assert frame == {"type": "keys.low", "data": count}
    await asyncio.sleep(QUIET)
    assert [await _receive_all_now(device) for device in (phone, laptop, theirs)] == [[], [], []]
