"""groups.statements.insert_group_message, the group send's dialect split: the embedded run
exercises SQLite's three statements, the real run PostgreSQL's one; both write the same rows."""

import uuid

import pytest
from django.utils import timezone

from groups.models import ChatGroup, GroupMessage, GroupMessageKey
from groups.statements import insert_group_message
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def new_message(group, sender) -> GroupMessage:
    return GroupMessage(
        id=uuid.uuid4(),
        group=group,
        sender_id=sender.pk,
        encrypted_content=b"ciphertext",
        crypto_version="v1",
        encryption_algorithm="x",
        client_message_id=uuid.uuid4(),
        attachment_ids=[],
        created_at=timezone.now(),
    )


def test_the_message_and_every_members_key_are_written_at_one_new_position():
    sender, other = UserFactory(), UserFactory()
    group = ChatGroup.objects.create(name="g", creator=sender)
    first, second = new_message(group, sender), new_message(group, sender)

    insert_group_message(first, {sender.pk: b"k-sender-1", other.pk: b"k-other-1"})
    insert_group_message(second, {sender.pk: b"k-sender-2", other.pk: b"k-other-2"})

    assert second.stream_position > first.stream_position
    assert not second._state.adding
    stored = GroupMessage.objects.get(pk=second.pk)
    assert (stored.group_id, stored.sender_id, bytes(stored.encrypted_content)) == (
        group.pk,
        sender.pk,
        b"ciphertext",
    )
    assert stored.stream_position == second.stream_position
    keys = {
        (key.user_id, bytes(key.encrypted_session_key), key.stream_position)
        for key in GroupMessageKey.objects.filter(message=second)
    }
    assert keys == {
        (sender.pk, b"k-sender-2", second.stream_position),
        (other.pk, b"k-other-2", second.stream_position),
    }
