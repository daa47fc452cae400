"""Attachments on group messages: the sender's uploads only, granted to the members of the moment."""

from __future__ import annotations

import pytest

from groups import services
from groups.models import ChatGroup, GroupMessage
from media.models import MediaGrant
from tests.groups.helpers import SEND_QUERY_BUDGET, big_group, message_body
from tests.support.media import fetch, upload

# Each test stores files under its own temporary folder (or, with `storage_kind`, runs on local
# storage and on S3), as media's own tests do.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_storage")]


def test_attachments_are_granted_to_members_and_rendered(make_user, make_group, client_for, send):
    owner, ann, outsider, late = make_user(), make_user(), make_user(), make_user()
    group = make_group(owner, members=[ann])
    media = upload(client_for(owner), b"holiday photo bytes", name="photo.txt").json()

    response = send(owner, group, attachment_ids=[media["id"]])

    assert response.status_code == 201, response.content
    [attachment] = response.json()["attachments"]
    assert attachment["id"] == media["id"] and attachment["file_name"] == "photo.txt"
    assert attachment["file_size"] == len(b"holiday photo bytes")
    [seen_by_ann] = client_for(ann).get(f"/api/v1/groups/{group.pk}/messages").json()["results"]
    assert seen_by_ann["attachments"] == [attachment]
    assert client_for(ann).get(f"/api/v1/media/{media['id']}").status_code == 200
    assert client_for(outsider).get(f"/api/v1/media/{media['id']}").status_code == 404
    # Someone who joins later was not a recipient: no grant for them.
    services.group_member_add(group_id=group.pk, actor_id=owner.pk, user_id=late.pk)
    assert client_for(late).get(f"/api/v1/media/{media['id']}").status_code == 404


def test_someone_elses_upload_is_400_and_sends_nothing(make_user, make_group, client_for, send):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    theirs = upload(client_for(ann), b"ann's file").json()

    response = send(owner, group, attachment_ids=[theirs["id"]])

    assert response.status_code == 400 and response.json()["code"] == "invalid_attachment"
    assert GroupMessage.objects.count() == 0


def test_sending_with_attachments_to_200_members_still_runs_a_fixed_number_of_queries(
    make_user, make_group, client_for, django_assert_max_num_queries
):
    owner, big = big_group(make_user, make_group, 200)
    client = client_for(owner)
    ids = [upload(client, f"file {n}".encode()).json()["id"] for n in range(3)]
    body = message_body(big, attachment_ids=ids)
    # + the media grant (a savepoint, one UPDATE, one INSERT) and the metadata read
    with django_assert_max_num_queries(SEND_QUERY_BUDGET + 5):
        response = client.post(f"/api/v1/groups/{big.pk}/messages", body, format="json")
    assert response.status_code == 201
    assert len(response.json()["attachments"]) == 3


# --- Grants follow messages: what a group's deletion takes back --------------------------------


def media_status(client, media_id) -> tuple[int, int, int]:
    """Metadata, download and thumbnail as the user gets them (S3: the redirect is followed)."""
    return (
        client.get(f"/api/v1/media/{media_id}").status_code,
        fetch(client, f"/api/v1/media/{media_id}/download").status,
        fetch(client, f"/api/v1/media/{media_id}/thumbnail").status,
    )


READABLE, GONE = (200, 200, 200), (404, 404, 404)


def photo(client) -> dict:
    return upload(client, b"group photo bytes", name="photo.bin", thumbnail=b"its thumbnail").json()


def test_the_grants_name_the_group_message_as_their_source(make_user, make_group, client_for, send):
    owner, ann, bob = make_user(), make_user(), make_user()
    group = make_group(owner, members=[ann, bob])
    media = photo(client_for(owner))
    message = send(owner, group, attachment_ids=[media["id"]]).json()
    grants = MediaGrant.objects.filter(media_id=media["id"])
    assert {(g.user_id, str(g.source_id)) for g in grants} == {
        (ann.pk, message["id"]),
        (bob.pk, message["id"]),
    }


@pytest.mark.usefixtures("storage_kind")
@pytest.mark.parametrize("deleted_by", ["owner", "staff"])
def test_deleting_the_group_takes_its_media_from_members_and_former_members(
    make_user, make_group, client_for, send, deleted_by
):
    owner, ann, leaver, sender = make_user(), make_user(), make_user(), make_user()
    group = make_group(owner, members=[ann, leaver, sender])
    media = photo(client_for(sender))
    send(sender, group, attachment_ids=[media["id"]])
    # Leaving keeps what one was sent, while the message exists.
    assert client_for(leaver).delete(f"/api/v1/groups/{group.pk}/members/{leaver.pk}").status_code == 204
    assert media_status(client_for(leaver), media["id"]) == READABLE

    if deleted_by == "owner":
        assert client_for(owner).delete(f"/api/v1/groups/{group.pk}").status_code == 204
    else:
        services.group_delete_by_staff(group_id=group.pk)

    for former in (owner, ann, leaver):
        assert media_status(client_for(former), media["id"]) == GONE
    assert media_status(client_for(sender), media["id"]) == READABLE  # the uploader keeps it
    assert not MediaGrant.objects.exists()


def test_media_shared_in_another_group_stays_readable_there(make_user, make_group, client_for, send):
    owner, ann = make_user(), make_user()
    deleted, kept = make_group(owner, members=[ann]), make_group(owner, members=[ann])
    media = photo(client_for(owner))
    send(owner, deleted, attachment_ids=[media["id"]])
    send(owner, kept, attachment_ids=[media["id"]])

    services.group_delete(group_id=deleted.pk, actor_id=owner.pk)

    assert media_status(client_for(ann), media["id"]) == READABLE
    [message] = client_for(ann).get(f"/api/v1/groups/{kept.pk}/messages").json()["results"]
    assert [a["id"] for a in message["attachments"]] == [media["id"]]


def test_a_group_deleted_with_its_last_members_account_takes_its_media(
    make_user, make_group, client_for, send
):
    from accounts.events import user_deleted

    owner, leaver = make_user(), make_user()
    group = make_group(owner, members=[leaver])
    media = photo(client_for(owner))
    send(owner, group, attachment_ids=[media["id"]])
    services.group_member_remove(group_id=group.pk, actor_id=leaver.pk, user_id=leaver.pk)

    user_deleted.send(sender=None, user_id=owner.pk)  # the group is left empty, so it goes

    assert not ChatGroup.objects.filter(pk=group.pk).exists()
    assert media_status(client_for(leaver), media["id"]) == GONE


def test_deleting_a_group_without_attachments_revokes_nothing_else(make_user, make_group, client_for, send):
    owner, ann = make_user(), make_user()
    deleted, kept = make_group(owner, members=[ann]), make_group(owner, members=[ann])
    send(owner, deleted)
    media = photo(client_for(owner))
    send(owner, kept, attachment_ids=[media["id"]])
    services.group_delete(group_id=deleted.pk, actor_id=owner.pk)
    assert MediaGrant.objects.filter(user=ann).count() == 1
