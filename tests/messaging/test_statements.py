"""messaging.statements: the send's dialect split (store_message; the embedded run exercises
SQLite's statements, the real run PostgreSQL's one statement; both must write the same rows), and
the history page's read (conversation_page_rows: the queryset's rows, on both)."""

import uuid

import pytest
from django.utils import timezone

from contacts.models import Contact
from messaging.models import Conversation, Message, conversation_key_for
from messaging.selectors import conversation_messages
from messaging.statements import Stored, conversation_page_rows, store_message
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


def page(viewer, peer, *, position=None, ascending=False, offset=0, limit=50):
    return conversation_page_rows(
        conversation_key=conversation_key_for(viewer.pk, peer.pk),
        user_id=viewer.pk,
        position=position,
        ascending=ascending,
        offset=offset,
        limit=limit,
    )


def test_a_conversation_page_reads_what_the_queryset_reads():
    """The same messages in the same order, each value what the model holds (the ids as text on
    PostgreSQL, an empty attachment list as None); each side's "deleted for me" left out for it."""
    one, two, outsider = UserFactory(), UserFactory(), UserFactory()
    messages = [new_message(*pair) for pair in [(one, two), (two, one)] * 4 + [(one, outsider)]]
    messages[1].attachment_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    messages[2].client_message_id = None
    messages[6].sender_encrypted_session_key = b"own key"
    for message in messages:
        assert store_message(message) is Stored.STORED
    Message.objects.filter(pk=messages[3].pk).update(sender_hidden_position=1)  # two hid it
    Message.objects.filter(pk=messages[4].pk).update(recipient_hidden_position=1)  # two hid it
    Message.objects.filter(pk=messages[5].pk).update(read_at=timezone.now(), deleted_at=timezone.now())

    for viewer, peer in ((one, two), (two, one), (outsider, one), (outsider, two)):
        everything = list(
            conversation_messages(user_id=viewer.pk, peer_id=peer.pk).order_by("stream_position")
        )
        assert (
            len(everything)
            == {(one, two): 8, (two, one): 6, (outsider, one): 1, (outsider, two): 0}[(viewer, peer)]
        )
        for ascending, offset, limit in ((False, 0, 50), (True, 0, 50), (False, 1, 3), (True, 2, 2)):
            rows = page(viewer, peer, ascending=ascending, offset=offset, limit=limit)
            expected = (everything if ascending else everything[::-1])[offset : offset + limit]
            assert [row["stream_position"] for row in rows] == [m.stream_position for m in expected]
            for row, message in zip(rows, expected, strict=True):
                assert list(row) == [*MESSAGE_ROW_KEYS, "stream_position"]
                for key in ("id", "sender_id", "recipient_id", "client_message_id"):
                    value = getattr(message, key)
                    assert row[key] == (None if value is None else str(value) if on_postgresql() else value)
                for key in ("crypto_version", "encryption_algorithm", "read_at", "deleted_at", "created_at"):
                    assert row[key] == getattr(message, key)
                for key in ("encrypted_content", "encrypted_session_key", "sender_encrypted_session_key"):
                    assert as_bytes(row[key]) == as_bytes(getattr(message, key))
                assert row["attachment_ids"] == (message.attachment_ids or None)
        if len(everything) > 2:  # past a cursor's position, either way
            middle = everything[1].stream_position
            below, above = (
                page(viewer, peer, position=middle),
                page(viewer, peer, position=middle, ascending=True),
            )
            assert [row["stream_position"] for row in below] == [everything[0].stream_position]
            assert [row["stream_position"] for row in above] == [m.stream_position for m in everything[2:]]


MESSAGE_ROW_KEYS = [
    "id",
    "sender_id",
    "recipient_id",
    "encrypted_content",
    "encrypted_session_key",
    "sender_encrypted_session_key",
    "crypto_version",
    "encryption_algorithm",
    "client_message_id",
    "attachment_ids",
    "read_at",
    "deleted_at",
    "created_at",
]


def as_bytes(value) -> bytes | None:
    return None if value is None else bytes(value)  # a memoryview from psycopg's bytea


def on_postgresql() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"
