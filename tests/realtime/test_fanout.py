"""A group message's fan-out (issue 15): each member's socket gets its own wrapped key and no
other member's, and the layer carries O(members) bytes per message, not O(members²).

Over the configured channel layer (Redis in CI: each member's channel on a layer instance of its
own, as if every socket were in a process of its own, the worst case for the bytes; in-memory
embedded: one layer, each channel's copy counted).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from core.events import publish_per_user, realtime_user_group_name
from tests.groups.helpers import keys_for, message_body
from tests.support.gateway import next_frame_of, rest, socket_for

pytestmark = pytest.mark.django_db(transaction=True)


def _layers(count: int) -> list:
    """One layer per member's channel: separate instances under Redis (their own inbox each, as
    separate processes have), the one in-memory layer otherwise."""
    if not settings.REDIS_URL:
        return [get_channel_layer()] * count
    from channels_redis.core import RedisChannelLayer

    return [RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"]) for _ in range(count)]


async def _published_to(members: int) -> tuple[int, list[tuple[str, dict]]]:
    """Publishes one message with a distinct key for each of `members` users, each holding one
    channel; returns the bytes all channels received and (user, message) for each."""
    users = [str(uuid.uuid4()) for _ in range(members)]
    layers = _layers(members)
    channels = []
    for user_id, layer in zip(users, layers, strict=True):
        channel = await layer.new_channel()
        await layer.group_add(realtime_user_group_name(user_id), channel)
        channels.append(channel)
    keys = keys_for(users)
    body = {"id": str(uuid.uuid4()), "encrypted_content": "Y2lwaGVydGV4dA==" * 8, "attachments": []}
    await sync_to_async(publish_per_user)(
        {user_id: {"encrypted_session_key": keys[user_id]} for user_id in users}, "group.message.new", body
    )
    received = [
        await asyncio.wait_for(layer.receive(channel), 3)
        for layer, channel in zip(layers, channels, strict=True)
    ]
    for layer in set(layers):
        if hasattr(layer, "close_pools"):
            await layer.close_pools()
    total = sum(len(json.dumps(message)) for message in received)
    return total, list(zip(users, received, strict=True))


async def test_each_channel_gets_only_its_users_key_and_the_bytes_grow_linearly():
    small, _ = await _published_to(10)
    large, received = await _published_to(100)
    keys = {user_id: message["per_user"][user_id]["encrypted_session_key"] for user_id, message in received}
    for user_id, message in received:
        assert message["per_user"] == {user_id: {"encrypted_session_key": keys[user_id]}}
        text = json.dumps(message)
        assert sum(key in text for key in keys.values()) == 1  # its own, no other member's
    # Linear: 10x the members, about 10x the bytes (every channel holding all 100 keys: ~70x).
    assert large / small < 12, (small, large)


async def test_each_members_socket_frame_is_the_rest_message_with_its_own_key(user, make_user):
    carol, dave = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    created = await rest(
        user, "post", "/api/v1/groups", {"name": "Team", "member_ids": [str(carol.pk), str(dave.pk)]}
    )
    assert created.status_code == 201, created.content
    group_id = created.json()["id"]
    sockets = {member: await socket_for(member) for member in (carol, dave)}

    from groups.models import ChatGroup

    group = await sync_to_async(ChatGroup.objects.get)(pk=group_id)
    body = await sync_to_async(message_body)(group)
    sent = await rest(user, "post", f"/api/v1/groups/{group_id}/messages", body)
    assert sent.status_code == 201, sent.content
    for member, socket in sockets.items():
        frame = await next_frame_of(socket, "group.message.new")
        history = await rest(member, "get", f"/api/v1/groups/{group_id}/messages")
        assert frame["data"] == history.json()["results"][0]
        others = [key for uid, key in body["encrypted_session_keys"].items() if uid != str(member.pk)]
        assert not any(key in json.dumps(frame) for key in others)
        await socket.disconnect()


@pytest.mark.parametrize(
    ("data", "part"),
    [
        (
            {"id": "m", "text": "é\u2028", "attachments": [{"id": "a", "size": 5}], "sender_id": None},
            {"k": "v"},
        ),
        ({"id": "m"}, {"encrypted_session_key": "a2V5", "extra": [1, None]}),
        ({}, {"k": "v"}),  # nothing shared: plain encoding
        ({"id": "m"}, {}),
        ({"id": "m", "k": "shared"}, {"k": "own"}),  # a part that overrides: plain encoding
    ],
)
def test_a_spliced_frame_is_the_text_a_plain_encoding_gives(data, part):
    from realtime.consumers import spliced_frame

    message: dict = {}
    for _ in range(2):  # the first socket encodes the shared head, the next reuse it
        assert spliced_frame(message, "group.message.new", data, part) == json.dumps(
            {"type": "group.message.new", "data": {**data, **part}}
        )


async def test_members_sockets_in_one_process_each_get_the_rest_message_with_their_own_key(user, make_user):
    """The sockets share one layer message (one process): each frame still carries its own key
    only, and is the `<group message>` its member reads over REST."""
    members = [await sync_to_async(make_user)() for _ in range(4)]
    created = await rest(
        user, "post", "/api/v1/groups", {"name": "Team", "member_ids": [str(m.pk) for m in members]}
    )
    assert created.status_code == 201, created.content
    group_id = created.json()["id"]
    sockets = {member: await socket_for(member) for member in [user, *members]}

    from groups.models import ChatGroup

    group = await sync_to_async(ChatGroup.objects.get)(pk=group_id)
    body = await sync_to_async(message_body)(group)
    for round_ in range(2):  # a second message: nothing of the first one's frame is reused
        body["encrypted_content"] = base64.b64encode(f"ciphertext {round_}".encode()).decode()
        sent = await rest(user, "post", f"/api/v1/groups/{group_id}/messages", body)
        assert sent.status_code == 201, sent.content
        for member, socket in sockets.items():
            frame = await next_frame_of(socket, "group.message.new")
            history = await rest(member, "get", f"/api/v1/groups/{group_id}/messages")
            assert frame["data"] == history.json()["results"][0]
            assert frame["data"]["encrypted_session_key"] == body["encrypted_session_keys"][str(member.pk)]
            others = [key for uid, key in body["encrypted_session_keys"].items() if uid != str(member.pk)]
            assert not any(key in json.dumps(frame) for key in others)
    for socket in sockets.values():
        await socket.disconnect()


async def test_an_event_reaches_a_socket_while_the_sync_thread_is_busy(user):
    """Delivering a layer event waits for no worker thread (channels' dispatch hopped to the one
    sync thread per message, for every socket: a busy thread delayed every delivery behind it)."""
    socket = await socket_for(user)
    busy = asyncio.ensure_future(sync_to_async(time.sleep)(2))  # the thread Django's sync code uses
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await get_channel_layer().group_send(
        realtime_user_group_name(user.pk),
        {"type": "event.forward", "event": {"type": "group.updated", "data": {"group_id": "g"}}},
    )
    frame = await next_frame_of(socket, "group.updated")
    assert frame == {"type": "group.updated", "data": {"group_id": "g"}}
    assert time.monotonic() - started < 1.0
    await busy
    await socket.disconnect()
