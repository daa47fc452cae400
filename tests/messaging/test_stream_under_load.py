"""The stream's guarantee with its writers racing (issue 15): the send holds the counter's lock
for one statement and its commit (messaging.statements.store_message), the group send takes its
position last. A device that keeps calling /sync while 1:1 and group messages are written from
several connections at once receives each of them exactly once, in stream order. Runs on
PostgreSQL (DATABASE_URL): SQLite serialises every writer on one database lock."""

from __future__ import annotations

import base64
import threading
from uuid import UUID

import pytest
from django.db import connection, connections

from groups import services as group_services
from groups.models import GroupMessage
from messaging.models import Message
from tests.messaging.helpers import send_through_the_service

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers: PostgreSQL"),
]

SENDERS = 4
MESSAGES_EACH = 12


def test_a_device_syncing_while_many_connections_write_gets_each_message_once_in_order(
    client_for, user, make_user
):
    peers = [make_user() for _ in range(SENDERS)]
    group = group_services.group_create(creator_id=peers[0].pk, name="g", member_ids=[user.pk, peers[1].pk])
    members = [peers[0].pk, user.pk, peers[1].pk]
    reader = client_for(user)
    token = reader.get("/api/v1/sync").json()["next_since"]
    written: list[str] = []
    written_lock = threading.Lock()
    barrier = threading.Barrier(SENDERS + 2)
    errors: list[BaseException] = []

    def one_to_one(index: int) -> None:
        # Half of them the user sends (the "sent" source of /sync), half they receive.
        for n in range(MESSAGES_EACH):
            sender, recipient = (peers[index], user) if n % 2 else (user, peers[index])
            message = send_through_the_service(sender, recipient)
            with written_lock:
                written.append(str(message.pk))

    def in_the_group(_: int) -> None:
        for n in range(MESSAGES_EACH):
            sent = group_services.group_message_send(
                group_id=group.pk,
                sender_id=members[n % len(members)],
                encrypted_content=f"group {n}".encode(),
                encrypted_session_keys={uid: base64.b64encode(str(uid).encode()) for uid in members},
                crypto_version="1",
                encryption_algorithm="none",
            )
            with written_lock:
                written.append(str(sent.message.pk))

    def writer(index: int, work) -> None:
        try:
            barrier.wait(timeout=10)
            work(index)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(index, one_to_one)) for index in range(SENDERS)]
    threads.append(threading.Thread(target=writer, args=(0, in_the_group)))
    for thread in threads:
        thread.start()

    received: list[str] = []

    def sync_once(since: str) -> str:
        body = reader.get("/api/v1/sync", {"since": since, "limit": 7}).json()
        received.extend(item["data"]["id"] for item in body["items"])
        return body["next_since"]

    barrier.wait(timeout=10)
    while any(thread.is_alive() for thread in threads):
        token = sync_once(token)
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    for _ in range(len(written)):  # drain what came after the last call above
        before = len(received)
        token = sync_once(token)
        if len(received) == before:
            break

    assert len(received) == len(set(received)), "a message came back twice"
    assert sorted(received) == sorted(written), "a message was never synced"
    position_of = dict(Message.objects.values_list("id", "stream_position"))
    position_of.update(GroupMessage.objects.values_list("id", "stream_position"))
    positions = [position_of[UUID(message_id)] for message_id in received]
    assert positions == sorted(positions), "out of stream order"
    assert len(written) == SENDERS * MESSAGES_EACH + MESSAGES_EACH
