"""Presence through the real ASGI application and the REST API: online when a user's first
device connects, offline with `last_seen` when the last one leaves or when the sweep finds their
connections expired, seen by accepted contacts only, and `last_seen` writes throttled.

The store is the one the run configures (Redis with REDIS_URL, else this process's memory);
nothing is mocked: a crashed process is a connection whose expiry passed, stored through the
store's own API.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.utils import timezone

from accounts.models import User
from accounts.services import user_record_last_seen
from contacts.models import Contact
from contacts.services import contact_request, contact_set_status
from presence.services import presence_connection_opened, presence_connection_refreshed
from presence.store import get_store
from presence.tasks import presence_sweep
from tests.realtime.test_gateway import NOTHING_WITHIN, rest, socket_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean_presence():
    """Presence entries of one test never reach another's sweep or reads."""
    get_store().forget_everything()
    yield
    get_store().forget_everything()


def befriend(a, b) -> None:
    contact_request(requester_id=a.pk, addressee_id=b.pk)
    contact_request(requester_id=b.pk, addressee_id=a.pk)  # asking back accepts


def ask(requester, addressee) -> None:
    contact_request(requester_id=requester.pk, addressee_id=addressee.pk)


def block(blocker, blocked) -> None:
    contact = contact_request(requester_id=blocked.pk, addressee_id=blocker.pk).contact
    contact_set_status(contact_id=contact.pk, actor_id=blocker.pk, status=Contact.Status.BLOCKED)


def presence_frame(user, *, online: bool, last_seen=None) -> dict:
    return {"type": "presence", "data": {"user_id": str(user.pk), "online": online, "last_seen": last_seen}}


async def presence_of(viewer, *users) -> list[dict]:
    ids = ",".join(str(user.pk) for user in users)
    response = await rest(viewer, "get", f"/api/v1/presence?user_ids={ids}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


async def stored_last_seen(user) -> str | None:
    """users.last_seen as the REST API renders it (GET /users/{id})."""
    response = await rest(user, "get", f"/api/v1/users/{user.pk}")
    assert response.status_code == 200, response.content
    return response.json()["last_seen"]


# --- online and offline -------------------------------------------------------------------------


async def test_first_device_online_second_silent_last_one_offline_with_last_seen(make_user):
    ann, bob = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    await sync_to_async(befriend)(ann, bob)
    bob_socket = await socket_for(bob)

    ann_phone = await socket_for(ann)
    assert await bob_socket.receive_json_from(timeout=3) == presence_frame(ann, online=True)
    ann_laptop = await socket_for(ann)
    assert await bob_socket.receive_nothing(timeout=NOTHING_WITHIN)  # already online: no second event
    assert await presence_of(bob, ann) == [{"user_id": str(ann.pk), "online": True, "last_seen": None}]
    assert await stored_last_seen(ann) is not None  # written on connect (first write: it was NULL)

    await ann_phone.disconnect()
    assert await bob_socket.receive_nothing(timeout=NOTHING_WITHIN)  # the laptop is still there
    before_leaving = timezone.now()
    await ann_laptop.disconnect()
    offline = await bob_socket.receive_json_from(timeout=3)
    last_seen = offline["data"]["last_seen"]
    assert offline == presence_frame(ann, online=False, last_seen=last_seen)
    assert last_seen is not None

    # The event's value is the stored one, everywhere a client can read it.
    row = await sync_to_async(User.objects.get)(pk=ann.pk)
    assert row.last_seen >= before_leaving
    assert await stored_last_seen(ann) == last_seen
    assert await presence_of(bob, ann) == [{"user_id": str(ann.pk), "online": False, "last_seen": last_seen}]
    await bob_socket.disconnect()


async def test_pending_contacts_strangers_and_blocks_see_no_presence(make_user):
    ann, friend, asker, asked, stranger, blocked, blocker = [
        await sync_to_async(make_user)() for _ in range(7)
    ]
    await sync_to_async(befriend)(ann, friend)
    await sync_to_async(ask)(asker, ann)  # pending, towards ann
    await sync_to_async(ask)(ann, asked)  # pending, from ann
    await sync_to_async(block)(ann, blocked)  # ann blocked them
    await sync_to_async(block)(blocker, ann)  # they blocked ann
    outsiders = [asker, asked, stranger, blocked, blocker]
    friend_socket = await socket_for(friend)
    outsider_sockets = [await socket_for(user) for user in outsiders]

    ann_socket = await socket_for(ann)
    assert await friend_socket.receive_json_from(timeout=3) == presence_frame(ann, online=True)
    for communicator in outsider_sockets:
        assert await communicator.receive_nothing(timeout=NOTHING_WITHIN)
    for user in outsiders:
        assert await presence_of(user, ann) == []
    # Both ways: ann sees none of them either (each of them is online), only her friend.
    assert await presence_of(ann, *outsiders, friend) == [
        {"user_id": str(friend.pk), "online": True, "last_seen": None}
    ]

    await ann_socket.disconnect()
    offline = await friend_socket.receive_json_from(timeout=3)
    assert offline["data"]["online"] is False
    for communicator in outsider_sockets:
        assert await communicator.receive_nothing(timeout=NOTHING_WITHIN)
    for communicator in [friend_socket, *outsider_sockets]:
        await communicator.disconnect()


# --- a crashed process --------------------------------------------------------------------------


async def test_the_sweep_announces_a_crashed_processs_users_offline_exactly_once(make_user, settings):
    ann, bob, carl = [await sync_to_async(make_user)() for _ in range(3)]
    await sync_to_async(befriend)(ann, bob)
    await sync_to_async(befriend)(carl, bob)
    bob_socket = await socket_for(bob)
    carl_socket = await socket_for(carl)  # alive: the sweep must leave carl online
    assert (await bob_socket.receive_json_from(timeout=3))["data"]["user_id"] == str(carl.pk)

    # A server process opened a socket of ann's, then died without closing it...
    crashed_connection = f"specific.crashed-process!{uuid.uuid4().hex}"
    await presence_connection_opened(user_id=ann.pk, connection_id=crashed_connection)
    assert await bob_socket.receive_json_from(timeout=3) == presence_frame(ann, online=True)
    # ...and its last heartbeat is now older than the TTL: the entry's expiry is in the past.
    await sync_to_async(get_store().touch)(
        user_id=ann.pk, connection_id=crashed_connection, ttl_seconds=-1, last_seen_interval_seconds=60
    )

    swept = await sync_to_async(lambda: presence_sweep.apply().result)()
    assert swept == 1
    offline = await bob_socket.receive_json_from(timeout=3)
    last_seen = offline["data"]["last_seen"]
    assert offline == presence_frame(ann, online=False, last_seen=last_seen)
    assert await stored_last_seen(ann) == last_seen
    row = await sync_to_async(User.objects.get)(pk=ann.pk)
    # Its last heartbeat: the expiry minus the TTL (here a second before the sweep, minus 60 s).
    assert row.last_seen <= timezone.now() - timedelta(seconds=settings.REALTIME_PRESENCE_TTL_SECONDS)

    assert await sync_to_async(lambda: presence_sweep.apply().result)() == 0
    assert await bob_socket.receive_nothing(timeout=NOTHING_WITHIN)  # once, and carl untouched
    assert await presence_of(bob, ann, carl) == [
        {"user_id": str(ann.pk), "online": False, "last_seen": last_seen},
        {"user_id": str(carl.pk), "online": True, "last_seen": None},
    ]
    await carl_socket.disconnect()
    await bob_socket.disconnect()


# --- last_seen writes ---------------------------------------------------------------------------


def test_heartbeats_within_the_interval_do_not_touch_the_database(user, settings, django_assert_num_queries):
    settings.REALTIME_LAST_SEEN_WRITE_SECONDS = 60
    connection = f"specific.test!{uuid.uuid4().hex}"
    with django_assert_num_queries(2):  # last_seen (NULL: written) and the contacts to tell
        async_to_sync(presence_connection_opened)(user_id=user.pk, connection_id=connection)
    user.refresh_from_db()
    written = user.last_seen
    assert written is not None
    with django_assert_num_queries(0):
        async_to_sync(presence_connection_refreshed)(user_id=user.pk, connection_id=connection)
        async_to_sync(presence_connection_refreshed)(user_id=user.pk, connection_id=connection)
    user.refresh_from_db()
    assert user.last_seen == written

    settings.REALTIME_LAST_SEEN_WRITE_SECONDS = 0  # every heartbeat may write now: one UPDATE each
    with django_assert_num_queries(1):
        async_to_sync(presence_connection_refreshed)(user_id=user.pk, connection_id=connection)
    user.refresh_from_db()
    assert user.last_seen > written


def test_the_throttled_write_leaves_a_recent_value_and_the_offline_write_does_not(user):
    now = timezone.now()
    interval = timedelta(seconds=60)
    assert user_record_last_seen(user_id=user.pk, at=now, unless_newer_than=interval) is True
    later = now + timedelta(seconds=30)
    assert user_record_last_seen(user_id=user.pk, at=later, unless_newer_than=interval) is False
    user.refresh_from_db()
    assert user.last_seen == now
    assert user_record_last_seen(user_id=user.pk, at=later) is True  # going offline: always
    user.refresh_from_db()
    assert user.last_seen == later


# --- GET /presence ------------------------------------------------------------------------------


def test_get_presence_validates_its_ids(user, client_for, api_client):
    client = client_for(user)
    cases = [
        ("", "blank"),
        (",,", "required"),
        ("not-a-uuid", "invalid_uuid"),
        (f"{uuid.uuid4()},nope", "invalid_uuid"),
        (",".join(str(uuid.uuid4()) for _ in range(101)), "too_many_ids"),
    ]
    for value, code in cases:
        response = client.get("/api/v1/presence", {"user_ids": value})
        assert response.status_code == 400, (value, response.content)
        body = response.json()
        assert body["code"] == code, body
        assert body["detail"] and body["errors"]["user_ids"], body
    missing = client.get("/api/v1/presence")
    assert missing.status_code == 400 and missing.json()["code"] == "required"

    hundred = ",".join(str(uuid.uuid4()) for _ in range(100))
    response = client.get("/api/v1/presence", {"user_ids": hundred})
    assert response.status_code == 200, response.content
    assert response.json() == {"results": []}  # unknown ids are left out, not refused

    assert api_client.get("/api/v1/presence", {"user_ids": str(user.pk)}).status_code == 401


def test_the_schema_documents_get_presence(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/presence"]["get"]
    assert {"200", "400", "401"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"]] == ["user_ids"]
    item = schema["components"]["schemas"]["Presence"]
    assert set(item["properties"]) == {"user_id", "online", "last_seen"}
    assert item["properties"]["last_seen"].get("nullable") is True


def test_the_sweep_is_scheduled_and_registered(settings):
    from messenger.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscover tasks
    entry = settings.CELERY_BEAT_SCHEDULE["presence-sweep"]
    assert entry["task"] == "presence.sweep"
    assert "presence.sweep" in app.tasks
    assert 0 < float(entry["schedule"]) <= settings.REALTIME_PRESENCE_TTL_SECONDS


def test_get_presence_is_throttled_per_user(user, other_user, client_for, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "presence": "2/m"}
    path = f"/api/v1/presence?user_ids={other_user.pk}"
    assert [client_for(user).get(path).status_code for _ in range(2)] == [200, 200]
    refused = client_for(user).get(path)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled" and int(refused["Retry-After"]) >= 1
    assert client_for(other_user).get(f"/api/v1/presence?user_ids={user.pk}").status_code == 200
