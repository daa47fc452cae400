"""Races that only a real database can show: run on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections

from messaging.models import Conversation, Message
from messaging.services import message_send

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
        (first, first_created), (second, second_created) = results
        assert first.pk == second.pk
        assert sorted([first_created, second_created]) == [False, True]
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
        message, _ = message_send(
            sender_id=peers[index].pk,
            recipient_id=user.pk,
            encrypted_content=b"c",
            encrypted_session_key=b"k",
            sender_encrypted_session_key=None,
            crypto_version="1",
            encryption_algorithm="a",
            client_message_id=None,
            attachment_ids=[],
        )
        return message.stream_position

    positions = run_together(len(peers), send)
    assert not [p for p in positions if isinstance(p, Exception)], positions
    assert len(set(positions)) == len(peers)
