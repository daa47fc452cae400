"""Delivery across server processes: two real ASGI servers, uvicorn and daphne, on two loopback
ports, sharing the test's PostgreSQL database and one Redis (cache and channel layer). A socket
held by one process receives, within one second (issue 9's bound), what another user sent through
REST to the other process: a 1:1 `message.new` both ways, and `group.message.new` both ways; and
a socket left idle past the channel layer's 5 s blocking read is still up and still receives.

Needs PostgreSQL and Redis (a server process cannot see the test's SQLite file or its in-memory
channel layer): skipped otherwise, with the reason. CI sets CI_REQUIRE_REAL_SERVICES=1, and then
tests/conftest.py refuses to start without them, so there it runs rather than skips.

The servers run production settings (messenger.settings, DEBUG off) with one CACHE_KEY_PREFIX and
one CHANNEL_LAYER_PREFIX of their own, shared by both: as in production, any process redeems a
ticket another issued and sees the same denylist. (tests.settings would give each process a cache
prefix of its own pid, splitting the ticket store in two.)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from tests.messaging.helpers import send_body
from tests.s3 import stop_process
from tests.servers import (
    START_TIMEOUT_SECONDS,
    Recipient,
    Server,
    Socket,
    delete_keys,
    group_message_body,
    key_prefix,
    open_socket,
    register,
    rest_post,
    server_env,
    skip_unless_postgres_and_redis,
    start_server,
    wait_until_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Issue 9: "a client connected to the first receives, within one second, a message sent through
# REST to the second". Measured from just before the REST call to the frame's arrival.
DELIVERY_BOUND_SECONDS = 1.0
# channels_redis blocks 5 s per read of the layer (BZPOPMIN); idle a little longer than that.
IDLE_PAST_BLOCKING_READ_SECONDS = 6.5


@pytest.fixture
def servers(transactional_db, django_db_blocker, tmp_path_factory) -> Iterator[tuple[Server, Server]]:
    """(uvicorn, daphne), both serving the test database; always stopped, whatever happens.

    Per test, and set up after (so stopped before) the transactional test's flush: a server
    still writing for a socket that just closed (presence's last_seen) would otherwise hold
    locks against the flush's TRUNCATE and deadlock it."""
    skip_unless_postgres_and_redis()
    tmp = tmp_path_factory.mktemp("cross-process")
    prefix = key_prefix("xproc")
    started: list[Server] = []
    try:
        with django_db_blocker.unblock():
            env = server_env(prefix, tmp)  # reads the test database's name, after its creation
        for kind in ("uvicorn", "daphne"):
            started.append(start_server(kind, env, tmp / f"{kind}.log"))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for server in started:  # both start in parallel; then wait for each
            wait_until_ready(server, deadline)
        yield started[0], started[1]
    finally:
        for server in started:
            stop_process(server.process)
        delete_keys(prefix)


async def delivery(socket: Socket, frame_type: str, send, **match: str) -> tuple[dict, dict, float]:
    """Call `send()` (a REST call), then wait for the frame of this type naming the sent id.

    Returns (REST body, frame, seconds from just before the call to the frame's arrival).
    """
    started = time.monotonic()
    sent = await send()
    frame = await socket.next_frame(frame_type, id=sent["id"], **match)
    return sent, frame, time.monotonic() - started


# --- tests -------------------------------------------------------------------------------------


async def test_a_message_sent_to_one_process_reaches_a_socket_on_the_other_within_a_second(servers):
    uvicorn, daphne = servers
    ann = await register(daphne, "ann")
    bob = await register(daphne, "bob")
    # Ann's ticket comes from daphne and opens her socket on uvicorn: the ticket store is shared.
    ann_socket = await open_socket(uvicorn, ann, ticket_from=daphne)
    bob_socket = await open_socket(daphne, bob)
    try:
        # Bob -> Ann through daphne's REST; Ann's socket is on uvicorn.
        body = send_body(Recipient(ann))
        sent, frame, seconds = await delivery(
            ann_socket,
            "message.new",
            lambda: rest_post(daphne, bob, "/api/v1/messages/send", body),
        )
        assert frame["data"]["sender_id"] == bob.id and frame["data"]["recipient_id"] == ann.id
        assert frame["data"]["encrypted_content"] == body["encrypted_content"]
        assert frame["data"]["encrypted_session_key"] == body["encrypted_session_key"]
        assert seconds < DELIVERY_BOUND_SECONDS, f"daphne REST -> uvicorn socket took {seconds:.3f}s"

        # And back: Ann -> Bob through uvicorn's REST; Bob's socket is on daphne.
        reply = send_body(Recipient(bob))
        sent_back, frame_back, seconds_back = await delivery(
            bob_socket,
            "message.new",
            lambda: rest_post(uvicorn, ann, "/api/v1/messages/send", reply),
        )
        assert (frame_back["data"]["sender_id"], frame_back["data"]["recipient_id"]) == (ann.id, bob.id)
        assert frame_back["data"]["encrypted_content"] == reply["encrypted_content"]
        assert seconds_back < DELIVERY_BOUND_SECONDS, (
            f"uvicorn REST -> daphne socket took {seconds_back:.3f}s"
        )
        assert sent["id"] != sent_back["id"]
    finally:
        await ann_socket.close()
        await bob_socket.close()
    print(
        f"\n1:1 message.new: daphne->uvicorn {seconds * 1000:.0f} ms, uvicorn->daphne {seconds_back * 1000:.0f} ms"
    )


async def test_a_group_message_reaches_the_other_members_socket_on_the_other_process(servers):
    uvicorn, daphne = servers
    ann = await register(daphne, "ann")
    bob = await register(uvicorn, "bob")
    ann_socket = await open_socket(uvicorn, ann)
    bob_socket = await open_socket(daphne, bob)
    try:
        # Bob creates the group on uvicorn; both sockets learn of it and join its channel-layer
        # group (the consumer does on this event) before anything is sent to it.
        group = await rest_post(uvicorn, bob, "/api/v1/groups", {"name": "Cross", "member_ids": [ann.id]})
        for socket in (ann_socket, bob_socket):
            await socket.next_frame("group.member.added", group_id=group["id"])
        members = [ann.id, bob.id]
        path = f"/api/v1/groups/{group['id']}/messages"

        # Ann posts through uvicorn; Bob's socket is on daphne.
        ann_body = group_message_body(members)
        sent, frame, seconds = await delivery(
            bob_socket, "group.message.new", lambda: rest_post(uvicorn, ann, path, ann_body)
        )
        # Bob posts through daphne; Ann's socket is on uvicorn.
        bob_body = group_message_body(members)
        sent_back, frame_back, seconds_back = await delivery(
            ann_socket, "group.message.new", lambda: rest_post(daphne, bob, path, bob_body)
        )
        # Each member's socket was handed its own wrapped key, and only that one.
        for got, body, sender, reader in ((frame, ann_body, ann, bob), (frame_back, bob_body, bob, ann)):
            assert (got["data"]["group_id"], got["data"]["sender_id"]) == (group["id"], sender.id)
            assert got["data"]["encrypted_content"] == body["encrypted_content"]
            assert got["data"]["encrypted_session_key"] == body["encrypted_session_keys"][reader.id]
            assert "encrypted_session_keys" not in got["data"]
        # The senders' own sockets (the other device of each) got their message too.
        await ann_socket.next_frame("group.message.new", id=sent["id"])
        await bob_socket.next_frame("group.message.new", id=sent_back["id"])
        assert seconds < DELIVERY_BOUND_SECONDS, f"uvicorn REST -> daphne socket took {seconds:.3f}s"
        assert seconds_back < DELIVERY_BOUND_SECONDS, (
            f"daphne REST -> uvicorn socket took {seconds_back:.3f}s"
        )
    finally:
        await ann_socket.close()
        await bob_socket.close()
    print(
        f"\ngroup.message.new: uvicorn->daphne {seconds * 1000:.0f} ms, "
        f"daphne->uvicorn {seconds_back * 1000:.0f} ms"
    )


async def test_an_idle_socket_outlives_the_channel_layers_blocking_read(servers):
    """channels_redis waits for layer messages with a 5 s BZPOPMIN; under redis-py 8's default
    5 s socket timeout that read timed out and took the socket down (django/channels_redis#422).
    Idle past it, the socket still answers and still receives."""
    uvicorn, daphne = servers
    ann = await register(uvicorn, "ann")
    bob = await register(uvicorn, "bob")
    ann_socket = await open_socket(daphne, ann)
    try:
        await asyncio.sleep(IDLE_PAST_BLOCKING_READ_SECONDS)
        await ann_socket.connection.send(json.dumps({"type": "ping"}))
        await ann_socket.next_frame("pong")
        body = send_body(Recipient(ann))
        sent = await rest_post(uvicorn, bob, "/api/v1/messages/send", body)
        frame = await ann_socket.next_frame("message.new", id=sent["id"])
        assert frame["data"]["encrypted_content"] == body["encrypted_content"]
    finally:
        await ann_socket.close()
