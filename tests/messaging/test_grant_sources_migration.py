"""messaging 0004: the grants made before grants had sources get them, on the database this run
uses (PostgreSQL in CI, SQLite in the embedded mode).

The schema is taken back to before media's 0002, grants are written as the old code wrote them
(one row per (media, user), no source), and the migrations run forward again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from groups.models import ChatGroup, GroupMember, GroupMessage, GroupMessageKey
from media.models import Media, MediaGrant
from messaging.models import Message, conversation_key_for
from messaging.services import message_delete

BEFORE = [("media", "0001_initial"), ("messaging", "0003_message_position_unique")]

pytestmark = pytest.mark.django_db(transaction=True)  # migrations cannot run inside the test's transaction


def migrate(targets=None):
    """Migrate to `targets` (the latest migrations if None); the apps of that state."""
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_schema():
    """The schema before grants had sources, for the test's duration; the latest again after."""
    apps = migrate(BEFORE)
    try:
        yield apps
    finally:
        migrate()


class World:
    """Rows as the old code left them: messages, group messages, and sourceless grants."""

    def __init__(self, apps, make_user):
        self.grant_model = apps.get_model("media", "MediaGrant")
        self.position = 0
        self.alice, self.bob, self.carol, self.dave, self.erin = (make_user() for _ in range(5))

    def media(self) -> uuid.UUID:
        key = uuid.uuid4().hex
        return Media.objects.create(
            uploader=self.alice,
            object_key=key,
            file_name="f",
            file_type="text/plain",
            file_size=1,
            sha256="0",
        ).pk

    def message(self, recipient, attachments, **fields) -> Message:
        self.position += 1
        return Message.objects.create(
            sender=self.alice,
            recipient=recipient,
            conversation_key=conversation_key_for(self.alice.pk, recipient.pk),
            encrypted_content=b"c",
            encrypted_session_key=b"k",
            crypto_version="1",
            encryption_algorithm="a",
            attachment_ids=[str(a) for a in attachments],
            created_at=timezone.now(),
            stream_position=self.position,
            **fields,
        )

    def group_message(self, group, attachments, key_holders) -> GroupMessage:
        self.position += 1
        message = GroupMessage.objects.create(
            group=group,
            sender=self.alice,
            encrypted_content=b"c",
            crypto_version="1",
            encryption_algorithm="a",
            attachment_ids=[str(a) for a in attachments],
            stream_position=self.position,
        )
        GroupMessageKey.objects.bulk_create(
            GroupMessageKey(
                message=message, user=user, encrypted_session_key=b"k", stream_position=self.position
            )
            for user in key_holders
        )
        return message

    def legacy_grant(self, media_id, user) -> None:
        self.grant_model.objects.create(
            media_id=media_id, user_id=user.pk, created_at=timezone.now() - timedelta(days=3)
        )


def grants() -> set[tuple]:
    return set(MediaGrant.objects.values_list("media_id", "user_id", "source_id"))


def test_legacy_grants_get_their_sources_and_leaks_go(old_schema, make_user, client_for):
    w = World(old_schema, make_user)
    m_live, m_deleted, m_twice, m_group, m_gone_group, m_deleted_account, m_hidden, m_odd = (
        w.media() for _ in range(8)
    )
    live = w.message(w.bob, [m_live])
    w.legacy_grant(m_live, w.bob)
    # Deleted for everyone before the fix: attachment_ids wiped, the grant left behind (the leak).
    w.message(w.bob, [], deleted_at=timezone.now())
    w.legacy_grant(m_deleted, w.bob)
    twice = [w.message(w.bob, [m_twice]), w.message(w.bob, [m_twice, m_live])]
    w.legacy_grant(m_twice, w.bob)
    # Hidden by its recipient ("delete for me"): still sent to them, so still theirs.
    hidden = w.message(w.bob, [m_hidden], recipient_hidden_position=99)
    w.legacy_grant(m_hidden, w.bob)
    # An element that is no UUID (none should exist) matches nothing and fails nothing.
    odd = w.message(w.bob, ["not-a-uuid", m_odd])
    w.legacy_grant(m_odd, w.bob)
    # Erin deleted her account: her grants went then, and none comes back.
    w.message(w.erin, [m_deleted_account])
    group = ChatGroup.objects.create(name="g", creator=w.alice)
    GroupMember.objects.create(group=group, user=w.alice, role="owner")
    GroupMember.objects.create(group=group, user=w.carol)  # dave left, and keeps his key
    in_group = w.group_message(group, [m_group], key_holders=[w.alice, w.carol, w.dave])
    w.legacy_grant(m_group, w.carol)
    w.legacy_grant(m_group, w.dave)
    # A group deleted before the fix: its messages are gone, Carol's grant was left behind.
    w.legacy_grant(m_gone_group, w.carol)

    migrate()

    expected = {
        (m_live, w.bob.pk, live.pk),
        (m_live, w.bob.pk, twice[1].pk),
        (m_twice, w.bob.pk, twice[0].pk),
        (m_twice, w.bob.pk, twice[1].pk),
        (m_hidden, w.bob.pk, hidden.pk),
        (m_odd, w.bob.pk, odd.pk),
        (m_group, w.carol.pk, in_group.pk),
        (m_group, w.dave.pk, in_group.pk),
    }
    assert grants() == expected
    bob = client_for(w.bob)
    assert bob.get(f"/api/v1/media/{m_live}").status_code == 200
    assert bob.get(f"/api/v1/media/{m_deleted}").status_code == 404
    assert client_for(w.carol).get(f"/api/v1/media/{m_gone_group}").status_code == 404
    assert client_for(w.dave).get(f"/api/v1/media/{m_group}").status_code == 200
    # The converted grants are revoked like new ones: per message.
    message_delete(user_id=w.alice.pk, message_id=twice[0].pk, scope="everyone")
    assert bob.get(f"/api/v1/media/{m_twice}").status_code == 200  # still sent in twice[1]
    message_delete(user_id=w.alice.pk, message_id=twice[1].pk, scope="everyone")
    assert bob.get(f"/api/v1/media/{m_twice}").status_code == 404
    assert bob.get(f"/api/v1/media/{m_live}").status_code == 200  # still sent in `live`


def test_the_migration_reverses_to_one_grant_per_pair(old_schema, make_user):
    w = World(old_schema, make_user)
    shared = w.media()
    first, second = w.message(w.bob, [shared]), w.message(w.bob, [shared])
    w.legacy_grant(shared, w.bob)
    migrate()
    assert grants() == {(shared, w.bob.pk, first.pk), (shared, w.bob.pk, second.pk)}

    apps = migrate(BEFORE)

    legacy = apps.get_model("media", "MediaGrant").objects
    assert list(legacy.values_list("media_id", "user_id")) == [(shared, w.bob.pk)]
    migrate()  # and forward again: the same sources
    assert grants() == {(shared, w.bob.pk, first.pk), (shared, w.bob.pk, second.pk)}
