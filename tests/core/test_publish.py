"""`publish` sends to sockets only after commit: a rolled-back write reaches no one.

These run against the configured channel layer (Redis under .ci/run) in one event loop, as a
consumer would: the publishing code runs in a worker thread, the listener in the loop.
"""

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.db import transaction

from core.events import (
    publish,
    publish_to_chat_group,
    realtime_chat_group_name,
    realtime_user_group_name,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def listen(group_name: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name, channel)
    return channel


async def drain(channel: str, timeout: float = 0.5) -> list[dict]:
    layer = get_channel_layer()
    received = []
    while True:
        try:
            received.append(await asyncio.wait_for(layer.receive(channel), timeout))
        except TimeoutError:
            return received


def new_id() -> str:
    return str(uuid.uuid4())


async def test_rolled_back_transaction_publishes_nothing():
    user_id = new_id()
    channel = await listen(realtime_user_group_name(user_id))

    @sync_to_async
    def failed_write():
        with pytest.raises(RuntimeError), transaction.atomic():
            publish([user_id], "message.new", {"id": "m1"})
            raise RuntimeError("the write failed")

    await failed_write()
    assert await drain(channel) == []


async def test_committed_transaction_publishes_once_and_only_after_commit():
    user_id = new_id()
    channel = await listen(realtime_user_group_name(user_id))
    before_commit: list[dict] = []

    @sync_to_async
    def write():
        with transaction.atomic():
            publish([user_id, user_id], "message.new", {"id": "m1"})
            # Still inside the transaction: the layer has nothing for the socket yet.
            before_commit.extend(_poll_now(channel))

    await write()
    assert before_commit == []
    received = await drain(channel)
    assert len(received) == 1
    assert received[0]["type"] == "event.forward"
    assert received[0]["event"] == {"type": "message.new", "data": {"id": "m1"}}


def _poll_now(channel: str) -> list[dict]:
    from asgiref.sync import async_to_sync

    return async_to_sync(drain)(channel, 0.2)


async def test_publish_outside_a_transaction_sends_at_once_with_json_safe_data():
    user_id = new_id()
    channel = await listen(realtime_user_group_name(user_id))
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ident = uuid.UUID(user_id)
    await sync_to_async(publish)([ident], "presence", {"user_id": ident, "last_seen": when})
    (received,) = await drain(channel)
    assert received["event"]["data"] == {"user_id": user_id, "last_seen": "2026-01-02T03:04:05Z"}


async def test_chat_group_publish_is_one_send_after_commit():
    group_id = new_id()
    channel = await listen(realtime_chat_group_name(group_id))

    @sync_to_async
    def failed_then_committed():
        with pytest.raises(RuntimeError), transaction.atomic():
            publish_to_chat_group(group_id, "group.message.new", {"id": "g1"})
            raise RuntimeError
        with transaction.atomic():
            publish_to_chat_group(group_id, "group.message.new", {"id": "g2"})

    await failed_then_committed()
    (received,) = await drain(channel)
    assert received["event"]["data"] == {"id": "g2"}


def test_capture_events_fixture_records_committed_publishes(capture_events):
    user_id = new_id()
    with capture_events() as sent, transaction.atomic():
        publish([user_id], "typing", {"state": "start"})
    assert sent == [{"groups": [f"user.{user_id}"], "type": "typing", "data": {"state": "start"}}]


def test_a_dead_channel_layer_does_not_fail_a_committed_send(settings, client_for, user, other_user, caplog):
    from messaging.models import Message
    from tests.messaging.helpers import send_body

    # A Redis layer on a port nothing listens on (in either mode): the publish fails, and fast.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1"}]},
        }
    }
    started = time.monotonic()
    response = client_for(user).post("/api/v1/messages/send", send_body(other_user), format="json")
    assert response.status_code == 201, response.content
    assert time.monotonic() - started < 3
    assert Message.objects.filter(pk=response.json()["id"]).exists()
    assert "Could not publish message.new" in caplog.text


@pytest.mark.skipif(not django_settings.REDIS_URL, reason="the Redis publisher's connection")
def test_publishing_keeps_one_connection_and_starts_no_thread():
    """Steady state: each publish reuses the process's connection; no thread, no event loop."""
    publish([new_id()], "typing", {"state": "start"})  # the first one connects
    pool = get_channel_layer()._messenger_sync_group_sender.clients[0].connection_pool
    threads = threading.active_count()
    for _ in range(20):
        publish([new_id(), new_id()], "typing", {"state": "start"})
    assert pool._created_connections == 1
    assert threading.active_count() == threads
