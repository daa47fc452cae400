"""Races that only a real database can show: run on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections

from messaging.models import Conversation, Message
from messaging.services import message_send
from tests.messaging.helpers import send_through_the_service

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite serialises every writer on one database lock, so there is no race to show; "
        "run with DATABASE_URL on PostgreSQL",
    ),
]


def run_together(count: int, target) -> list:
    """Start `count` threads at one barrier, each with its own database connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = target(index)
        except Exception as exc:  # surfaced by the assertions below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_concurrent_sends_with_one_client_message_id_make_one_row(user, other_user):
    client_message_id = uuid.uuid4()

    def send(index: int):
        return message_send(
            sender_id=user.pk,
            recipient_id=other_user.pk,
            encrypted_content=f"attempt {index}".encode(),
            encrypted_session_key=b"key",
            sender_encrypted_session_key=None,
            crypto_version="1",
            encryption_algorithm="x25519-aes-256-gcm",
            client_message_id=client_message_id,
            attachment_ids=[],
        )

    for _ in range(5):  # a few rounds: each one a fresh race
        client_message_id = uuid.uuid4()
        results = run_together(2, send)
        assert not [r for r in results if isinstance(r, Exception)], results
        first, second = results
        assert first.message.pk == second.message.pk
        assert sorted([first.created, second.created]) == [False, True]
        assert Message.objects.filter(sender=user, client_message_id=client_message_id).count() == 1
    assert Message.objects.count() == 5
    assert Conversation.objects.count() == 2


def test_concurrent_rest_retries_answer_one_201_and_the_same_message(client_for, user, other_user):
    from tests.messaging.helpers import send_body

    body = send_body(other_user)

    def post(index: int):
        response = client_for(user).post("/api/v1/messages/send", body, format="json")
        return response.status_code, response.json()["id"]

    results = run_together(4, post)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(status for status, _ in results) == [200, 200, 200, 201]
    assert len({message_id for _, message_id in results}) == 1
    assert Message.objects.count() == 1


def test_concurrent_senders_get_distinct_positions_in_commit_order(user, make_user):
    peers = [make_user() for _ in range(6)]

    def send(index: int):
        return send_through_the_service(peers[index], user).stream_position

    positions = run_together(len(peers), send)
    assert not [p for p in positions if isinstance(p, Exception)], positions
    assert len(set(positions)) == len(peers)


def test_paging_through_75_messages_while_another_connection_keeps_sending(client_for, user, other_user):
    """Issue 5's paging promise with real concurrency: a second thread (its own connection)
    commits messages into the same conversation, both directions, the whole time the reader
    pages 20 at a time (from the first page on). Each of the 75 comes back exactly once,
    newest first; none of the new ones."""

    def one(sender, recipient) -> str:
        return str(send_through_the_service(sender, recipient).pk)

    originals = [one(*((user, other_user) if n % 2 else (other_user, user))) for n in range(75)]
    stop = threading.Event()
    arrived: list[str] = []
    progressed = threading.Condition()

    def keep_sending() -> None:
        try:
            for n in range(500):  # bounded: the reader needs a handful of pages
                if stop.is_set():
                    return
                message_id = one(*((user, other_user) if n % 2 else (other_user, user)))
                with progressed:
                    arrived.append(message_id)
                    progressed.notify_all()
        finally:
            connections.close_all()

    reader = client_for(other_user)
    first = reader.get(f"/api/v1/messages/conversation/{user.pk}?limit=20").json()
    seen: list[str] = [message["id"] for message in first["results"]]
    url = first["next"]
    writer = threading.Thread(target=keep_sending)
    writer.start()
    try:
        while url:
            with progressed:  # at least two more commits land between two pages
                target = len(arrived) + 2
                assert progressed.wait_for(lambda target=target: len(arrived) >= target, timeout=30)
            page = reader.get(url).json()
            seen += [message["id"] for message in page["results"]]
            url = page["next"]
    finally:
        stop.set()
        writer.join(timeout=30)

    assert seen == list(reversed(originals))
    assert len(arrived) >= 6  # two or more commits before each of the three later pages
    assert not set(arrived) & set(seen)
