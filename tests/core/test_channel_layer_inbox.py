"""core.channel_layer's inbox reader (issue 15): one task reads the process inbox and hands each
message to the channels it names. What a socket sees must be what channels_redis's own receive
gives: every channel its message, in order, none lost when another socket goes, and a failed
read raised in the receive. Real mode only (the embedded mode's layer is channels' in-memory one).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.conf import settings

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis channel layer only")


def new_layer(**changes):
    from core.channel_layer import RedisChannelLayer

    return RedisChannelLayer(**{**settings.CHANNEL_LAYERS["default"]["CONFIG"], **changes})


async def channels_in_group(layer, group: str, count: int) -> list[str]:
    channels = [await layer.new_channel() for _ in range(count)]
    for channel in channels:
        await layer.group_add(group, channel)
    return channels


async def test_every_channel_of_the_process_gets_each_message_in_order():
    layer = new_layer()
    group = f"inbox{uuid.uuid4().hex}"
    channels = await channels_in_group(layer, group, 50)
    receives = [asyncio.ensure_future(layer.receive(channel)) for channel in channels]
    await asyncio.sleep(0.05)  # every receive waiting on its buffer
    await layer.group_send(group, {"type": "event.forward", "n": 1})
    await layer.group_send(group, {"type": "event.forward", "n": 2})  # waits in the buffers
    assert [message["n"] for message in await asyncio.wait_for(asyncio.gather(*receives), 5)] == [1] * 50
    seconds = [await asyncio.wait_for(layer.receive(channel), 5) for channel in channels]
    assert [message["n"] for message in seconds] == [2] * 50
    await layer.flush()
    await layer.close_pools()


async def test_a_socket_that_goes_costs_the_others_nothing():
    layer = new_layer()
    group = f"inbox{uuid.uuid4().hex}"
    gone, *staying = await channels_in_group(layer, group, 3)
    waiting = asyncio.ensure_future(layer.receive(gone))
    receives = [asyncio.ensure_future(layer.receive(channel)) for channel in staying]
    await asyncio.sleep(0.05)
    waiting.cancel()
    await layer.group_discard(group, gone)
    await layer.group_send(group, {"type": "event.forward", "n": 1})
    assert [m["n"] for m in await asyncio.wait_for(asyncio.gather(*receives), 5)] == [1, 1]
    assert gone not in layer.receive_buffer

    # Every receive gone (the reader stops with the last), then a new socket: read again.
    for receive in [asyncio.ensure_future(layer.receive(channel)) for channel in staying]:
        await asyncio.sleep(0.01)
        receive.cancel()
    await asyncio.sleep(0.05)
    assert layer._reader is None
    (late,) = await channels_in_group(layer, group, 1)
    later = asyncio.ensure_future(layer.receive(late))
    await asyncio.sleep(0.05)
    await layer.group_send(group, {"type": "event.forward", "n": 2})
    assert (await asyncio.wait_for(later, 5))["n"] == 2
    await layer.flush()
    await layer.close_pools()


async def test_a_failed_read_is_raised_in_every_waiting_receive():
    from redis.exceptions import ConnectionError as RedisConnectionError

    layer = new_layer(hosts=[{"address": "redis://127.0.0.1:1/0", "socket_connect_timeout": 1}])
    channels = [await layer.new_channel() for _ in range(3)]
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(layer.receive(channel) for channel in channels), return_exceptions=True), 10
    )
    assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes), outcomes
