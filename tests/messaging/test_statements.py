"""messaging.statements.store_message, the send's dialect split: the embedded run exercises
SQLite's statements, the real run PostgreSQL's one statement; both must write the same rows."""

import uuid

import pytest
from django.utils import timezone

from contacts.models import Contact
from messaging.models import Conversation, Message, conversation_key_for
from messaging.statements import Stored, store_message
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def new_message(sender, recipient, client_message_id=None) -> Message:
    return Message(
        sender_id=sender.pk,
        recipient_id=recipient.pk,
        conversation_key=conversation_key_for(sender.pk, recipient.pk),
        encrypted_content=b"ciphertext",
        encrypted_session_key=b"key",
        crypto_version="v1",
        encryption_algorithm="x",
        client_message_id=client_message_id or uuid.uuid4(),
        attachment_ids=[],
        created_at=timezone.now(),
    )


def test_a_send_writes_the_message_at_a_new_position_and_both_conversation_rows():
    sender, recipient = UserFactory(), UserFactory()
    first = new_message(sender, recipient)
    second = new_message(sender, recipient)

    assert store_message(first) is Stored.STORED
    assert store_message(second) is Stored.STORED

    assert second.stream_position > first.stream_position
    stored = Message.objects.get(pk=second.pk)
    assert (stored.sender_id, stored.recipient_id, bytes(stored.encrypted_content)) == (
        sender.pk,
        recipient.pk,
        b"ciphertext",
    )
    assert stored.stream_position == second.stream_position
    rows = {(row.owner_id, row.peer_id): row for row in Conversation.objects.all()}
    assert set(rows) == {(sender.pk, recipient.pk), (recipient.pk, sender.pk)}
    for row in rows.values():
        assert (row.last_message_id, row.last_position) == (second.pk, second.stream_position)


def test_a_repeated_client_message_id_writes_nothing():
    sender, recipient = UserFactory(), UserFactory()
    client_message_id = uuid.uuid4()
    assert store_message(new_message(sender, recipient, client_message_id)) is Stored.STORED

    assert store_message(new_message(sender, recipient, client_message_id)) is Stored.NOT_STORED
    assert Message.objects.count() == 1


def test_an_inactive_recipient_gets_nothing():
    sender, recipient = UserFactory(), UserFactory(is_active=False)
    assert store_message(new_message(sender, recipient)) is Stored.NOT_STORED
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("blocker", ["sender", "recipient"])
def test_a_block_either_way_writes_nothing(blocker):
    sender, recipient = UserFactory(), UserFactory()
    holder, other = (sender, recipient) if blocker == "sender" else (recipient, sender)
    Contact.objects.create(
        requester=holder, addressee=other, status=Contact.Status.BLOCKED, blocked_by=holder
    )

    assert store_message(new_message(sender, recipient)) is Stored.BLOCKED
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()
