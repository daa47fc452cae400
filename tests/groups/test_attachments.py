"""Attachments on group messages: the sender's uploads only, granted to the members of the moment."""

from __future__ import annotations

import pytest

from groups import services
from groups.models import GroupMessage
from tests.media.conftest import local_media_storage, upload

# Each test stores files under its own temporary folder, as media's own tests do.
__all__ = ["local_media_storage"]

pytestmark = pytest.mark.django_db


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
    from tests.groups.test_messages import SEND_QUERY_BUDGET, _big_group, message_body

    owner, big = _big_group(make_user, make_group, 200)
    client = client_for(owner)
    ids = [upload(client, f"file {n}".encode()).json()["id"] for n in range(3)]
    body = message_body(big, attachment_ids=ids)
    # + the media grant (a savepoint, one UPDATE, one INSERT) and the metadata read
    with django_assert_max_num_queries(SEND_QUERY_BUDGET + 5):
        response = client.post(f"/api/v1/groups/{big.pk}/messages", body, format="json")
    assert response.status_code == 201
    assert len(response.json()["attachments"]) == 3
