"""media.statements, the grants' dialect split (array parameters on PostgreSQL, JSON arrays on
SQLite): the embedded run exercises SQLite's text, the real run PostgreSQL's; both write and
delete the same rows."""

import uuid

import pytest
from django.utils import timezone

from media.models import Media, MediaGrant
from media.statements import delete_grants_of_sources, insert_grants
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def media_of(owner) -> Media:
    return Media.objects.create(
        uploader=owner,
        object_key=f"objects/{uuid.uuid4().hex}",
        file_name="f.bin",
        file_type="application/octet-stream",
        file_size=1,
        sha256="0" * 64,
    )


def grants() -> set[tuple]:
    return set(MediaGrant.objects.values_list("media_id", "user_id", "source_id"))


def test_every_media_user_pair_is_granted_once_per_source():
    owner, first, second = UserFactory(), UserFactory(), UserFactory()
    media = sorted([media_of(owner).pk, media_of(owner).pk])
    source, other_source = uuid.uuid4(), uuid.uuid4()

    insert_grants(media, [first.pk, second.pk], source, timezone.now())
    insert_grants(media, [first.pk], source, timezone.now())  # already granted: skipped
    insert_grants(media[:1], [first.pk], other_source, timezone.now())
    insert_grants(media[:1], [second.pk], None, timezone.now())

    assert grants() == {
        *((m, u.pk, source) for m in media for u in (first, second)),
        (media[0], first.pk, other_source),
        (media[0], second.pk, None),
    }


def test_a_sources_grants_go_and_no_others():
    owner, reader = UserFactory(), UserFactory()
    media = [media_of(owner).pk]
    gone, also_gone, kept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for source in (gone, also_gone, kept):
        insert_grants(media, [reader.pk], source, timezone.now())

    assert delete_grants_of_sources([gone, also_gone]) == 2
    assert grants() == {(media[0], reader.pk, kept)}
    assert delete_grants_of_sources([gone]) == 0
