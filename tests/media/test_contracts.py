"""The functions messaging and groups call, and the account-deletion receiver."""

import uuid

import pytest
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.events import user_deleted
from media.exceptions import MediaNotOwned
from media.models import Media, MediaGrant
from media.selectors import attachments_metadata
from media.services import grant_media_access, revoke_media_access
from tests.support.media import upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_uploads(user_client):
    return [upload(user_client, f"file {n}".encode(), name=f"f{n}.txt").json() for n in range(2)]


def test_grant_lets_grantees_see_and_marks_attached(client_for, user, make_user, two_uploads):
    ann, bob = make_user(), make_user()
    ids = [uuid.UUID(item["id"]) for item in two_uploads]
    grant_media_access(media_ids=ids, owner_id=user.pk, grantee_ids=[ann.pk, bob.pk, user.pk])
    for grantee in (ann, bob):
        for item in two_uploads:
            assert client_for(grantee).get(f"/api/v1/media/{item['id']}").status_code == 200
    assert not Media.objects.filter(pk__in=ids, attached_at__isnull=True).exists()
    assert MediaGrant.objects.count() == 4  # the owner is not granted their own upload


def test_grant_twice_is_idempotent_and_keeps_first_attach_time(user, other_user, two_uploads):
    media_id = uuid.UUID(two_uploads[0]["id"])
    grant_media_access(media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk])
    first = Media.objects.get(pk=media_id).attached_at
    grant_media_access(media_ids=[media_id, media_id], owner_id=user.pk, grantee_ids=[other_user.pk])
    assert MediaGrant.objects.filter(media_id=media_id).count() == 1
    assert Media.objects.get(pk=media_id).attached_at == first


def test_someone_elses_media_grants_nothing(client_for, user, other_user, make_user, two_uploads):
    theirs = upload(client_for(other_user), b"not yours").json()
    third = make_user()
    ids = [uuid.UUID(two_uploads[0]["id"]), uuid.UUID(theirs["id"])]
    with pytest.raises(MediaNotOwned) as caught, transaction.atomic():
        grant_media_access(media_ids=ids, owner_id=user.pk, grantee_ids=[third.pk])
    assert caught.value.status_code == 400 and caught.value.code == "invalid_attachment"
    assert not MediaGrant.objects.exists()
    assert not Media.objects.filter(attached_at__isnull=False).exists()


def test_unknown_media_id_is_not_owned(user, other_user):
    with pytest.raises(MediaNotOwned):
        grant_media_access(media_ids=[uuid.uuid4()], owner_id=user.pk, grantee_ids=[other_user.pk])


def test_failed_send_rolls_back_the_grant(user, other_user, two_uploads):
    media_id = uuid.UUID(two_uploads[0]["id"])
    with pytest.raises(RuntimeError), transaction.atomic():
        grant_media_access(media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk])
        raise RuntimeError("the message insert failed")
    assert not MediaGrant.objects.exists()


def test_no_media_ids_is_a_no_op(user, other_user, django_assert_num_queries):
    with django_assert_num_queries(0):
        grant_media_access(media_ids=[], owner_id=user.pk, grantee_ids=[other_user.pk])


def test_grant_query_count_does_not_grow_with_grantees(user, make_user, two_uploads):
    ids = [uuid.UUID(item["id"]) for item in two_uploads]
    one = [make_user().pk]
    many = [make_user().pk for _ in range(200)]
    with CaptureQueriesContext(connection) as small:
        grant_media_access(media_ids=ids, owner_id=user.pk, grantee_ids=one)
    with CaptureQueriesContext(connection) as large:
        grant_media_access(media_ids=ids, owner_id=user.pk, grantee_ids=many)
    assert len(large.captured_queries) == len(small.captured_queries) <= 4
    assert MediaGrant.objects.count() == 2 * 201


def test_grant_query_count_with_a_source_is_the_same(user, make_user, two_uploads):
    ids = [uuid.UUID(item["id"]) for item in two_uploads]
    many = [make_user().pk for _ in range(200)]
    with CaptureQueriesContext(connection) as without:
        grant_media_access(media_ids=ids, owner_id=user.pk, grantee_ids=many[:1])
    with CaptureQueriesContext(connection) as sourced:
        grant_media_access(media_ids=ids, owner_id=user.pk, grantee_ids=many, source_id=uuid.uuid4())
    assert len(sourced.captured_queries) == len(without.captured_queries) <= 4


def test_a_grant_records_its_source_once(user, other_user, two_uploads):
    media_id, source = uuid.UUID(two_uploads[0]["id"]), uuid.uuid4()
    for _ in range(2):  # a retried send grants nothing twice
        grant_media_access(
            media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk], source_id=source
        )
    [grant] = MediaGrant.objects.filter(media_id=media_id)
    assert (grant.user_id, grant.source_id) == (other_user.pk, source)
    # Another source granting the same pair is its own row; no source is one more.
    grant_media_access(
        media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk], source_id=uuid.uuid4()
    )
    grant_media_access(media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk])
    grant_media_access(media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk])
    assert MediaGrant.objects.filter(media_id=media_id, user=other_user).count() == 3
    assert MediaGrant.objects.filter(media_id=media_id, source_id__isnull=True).count() == 1


def test_revoke_takes_back_only_that_sources_grants(client_for, user, make_user, two_uploads):
    ann, bob = make_user(), make_user()
    photo, other = (uuid.UUID(item["id"]) for item in two_uploads)
    first, second, unrelated = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    grant_media_access(
        media_ids=[photo, other], owner_id=user.pk, grantee_ids=[ann.pk, bob.pk], source_id=first
    )
    grant_media_access(media_ids=[photo], owner_id=user.pk, grantee_ids=[ann.pk], source_id=second)
    grant_media_access(media_ids=[other], owner_id=user.pk, grantee_ids=[bob.pk], source_id=unrelated)

    assert revoke_media_access(source_ids=[first]) == 4

    def sees(grantee, media_id) -> int:
        return client_for(grantee).get(f"/api/v1/media/{media_id}").status_code

    assert (sees(ann, photo), sees(ann, other)) == (200, 404)  # photo still through `second`
    assert (sees(bob, photo), sees(bob, other)) == (404, 200)  # other still through `unrelated`
    assert sees(user, photo) == sees(user, other) == 200  # the uploader needs no grant
    assert revoke_media_access(source_ids=[first]) == 0  # again: nothing left to take
    assert revoke_media_access(source_ids=[second, unrelated]) == 2
    assert not MediaGrant.objects.exists()
    assert sees(ann, photo) == sees(bob, other) == 404


def test_revoke_leaves_grants_without_a_source(user, other_user, two_uploads):
    media_id = uuid.UUID(two_uploads[0]["id"])
    grant_media_access(media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk])
    assert revoke_media_access(source_ids=[uuid.uuid4()]) == 0
    assert MediaGrant.objects.filter(media_id=media_id, user=other_user).exists()


def test_revoke_is_one_statement_whatever_the_number_of_sources(
    user, other_user, two_uploads, django_assert_num_queries
):
    media_id = uuid.UUID(two_uploads[0]["id"])
    sources = [uuid.uuid4() for _ in range(1000)]
    for source in sources[:3]:
        grant_media_access(
            media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk], source_id=source
        )
    with django_assert_num_queries(1):
        assert revoke_media_access(source_ids=[str(source) for source in sources]) == 3
    with django_assert_num_queries(0):
        assert revoke_media_access(source_ids=[]) == 0


def test_a_rolled_back_revoke_takes_nothing(user, other_user, two_uploads):
    media_id, source = uuid.UUID(two_uploads[0]["id"]), uuid.uuid4()
    grant_media_access(media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk], source_id=source)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert revoke_media_access(source_ids=[source]) == 1
        raise RuntimeError("the message delete failed")
    assert MediaGrant.objects.filter(source_id=source, user=other_user).exists()


def test_attachments_metadata_one_query(user, two_uploads, django_assert_num_queries):
    ids = [uuid.UUID(item["id"]) for item in two_uploads]
    with django_assert_num_queries(1):
        metadata = attachments_metadata(media_ids=[*ids, uuid.uuid4()])
    assert set(metadata) == set(ids)
    first = metadata[ids[0]]
    assert set(first) == {
        "id",
        "file_name",
        "file_type",
        "file_size",
        "sha256",
        "thumbnail_url",
        "created_at",
    }
    assert first["file_name"] == "f0.txt" and first["file_type"] == "application/octet-stream"
    assert first["sha256"] == two_uploads[0]["sha256"]
    with django_assert_num_queries(0):
        assert attachments_metadata(media_ids=[]) == {}


@pytest.mark.usefixtures("storage_kind")
def test_user_deletion_removes_their_media_and_grants(
    client_for, user, other_user, two_uploads, media_storage, django_capture_on_commit_callbacks
):
    theirs = upload(client_for(other_user), b"kept").json()
    grant_media_access(media_ids=[theirs["id"]], owner_id=other_user.pk, grantee_ids=[user.pk])
    keys = list(Media.objects.filter(uploader=user).values_list("object_key", flat=True))
    assert all(default_storage.exists(key) for key in keys)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        user_deleted.send(sender=None, user_id=user.pk)
    assert not Media.objects.filter(uploader=user).exists()
    assert not any(default_storage.exists(key) for key in keys)
    assert media_storage.object_keys() == {Media.objects.get(pk=theirs["id"]).object_key}
    assert not MediaGrant.objects.filter(user=user).exists()
    assert Media.objects.filter(pk=theirs["id"]).exists()
    assert client_for(other_user).get(f"/api/v1/media/{theirs['id']}").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_account_deletion_with_the_broker_down_is_still_a_204(make_user, client_for, settings):
    """The uploads' objects are deleted by a task enqueued after the deletion commits. With the
    broker unreachable that enqueue fails; the account is deleted all the same, so the answer is
    204, not a 500 for a deletion that happened."""
    from tests.factories import DEFAULT_PASSWORD
    from tests.notifications.broker import unreachable_broker

    user = make_user()
    client = client_for(user)
    media_id = upload(client, b"mine").json()["id"]
    with unreachable_broker():
        response = client.delete("/api/v1/auth/me", {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 204, response.content
    assert not Media.objects.filter(pk=media_id).exists()
    assert client.get("/api/v1/auth/me").status_code == 401
