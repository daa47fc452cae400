"""Groups and members through the API: bodies, side effects, events, and what others see."""

from __future__ import annotations

import uuid

import pytest

from core.events import realtime_chat_group_name, realtime_user_group_name
from groups.models import ChatGroup, GroupMember
from groups.selectors import group_ids_for_user

pytestmark = pytest.mark.django_db


def roles(group) -> dict:
    return {m.user_id: m.role for m in GroupMember.objects.filter(group=group)}


def test_create_makes_the_creator_owner_and_adds_members(make_user, client_for, capture_events):
    owner, ann, bob = make_user(), make_user(), make_user()
    with capture_events() as sent:
        response = client_for(owner).post(
            "/api/v1/groups",
            {
                "name": "Hikers",
                "description": "Sundays",
                "member_ids": [str(ann.pk), str(bob.pk), str(owner.pk)],
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Hikers" and body["description"] == "Sundays"
    assert body["creator_id"] == str(owner.pk) and body["my_role"] == "owner"
    members = {m["user"]["id"]: m["role"] for m in body["members"]}
    assert members == {str(owner.pk): "owner", str(ann.pk): "member", str(bob.pk): "member"}
    assert set(body["members"][0]["user"]) >= {"id", "username", "public_key"}
    assert "email" not in body["members"][0]["user"]
    # Every initial member's sockets hear about it (and the gateway joins them to the group).
    [added] = [e for e in sent if e["type"] == "group.member.added"]
    assert sorted(added["groups"]) == sorted(realtime_user_group_name(u.pk) for u in (owner, ann, bob))
    assert sorted(added["data"]["user_ids"]) == sorted(str(u.pk) for u in (owner, ann, bob))
    assert uuid.UUID(body["id"]) in group_ids_for_user(user_id=ann.pk)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "description": "d" * 501}, "description"),
        ({"name": "ok", "member_ids": ["nope"]}, "member_ids"),
        ({"name": "ok", "member_ids": "nope"}, "member_ids"),
    ],
)
def test_create_rejects_bad_input(user_client, body, field):
    response = user_client.post("/api/v1/groups", body, format="json")
    assert response.status_code == 400
    assert any(key.split(".")[0] == field for key in response.json()["errors"])
    assert ChatGroup.objects.count() == 0


def test_create_with_unknown_or_inactive_users_is_400_naming_them(make_user, user_client):
    gone = make_user(is_active=False)
    unknown = uuid.uuid4()
    response = user_client.post(
        "/api/v1/groups", {"name": "x", "member_ids": [str(gone.pk), str(unknown)]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_users"
    assert str(gone.pk) in response.json()["detail"] and str(unknown) in response.json()["detail"]
    assert ChatGroup.objects.count() == 0


def block(client_for, blocker, blocked) -> None:
    """A real block through the contacts API: `blocked` asks, `blocker` blocks."""
    contact = client_for(blocked).post("/api/v1/contacts", {"user_id": str(blocker.pk)}, format="json")
    response = client_for(blocker).patch(
        f"/api/v1/contacts/{contact.json()['id']}", {"status": "blocked"}, format="json"
    )
    assert response.status_code == 200, response.content


def test_create_refuses_users_who_blocked_the_creator_naming_them(make_user, client_for):
    owner, ann, blocker = make_user(), make_user(), make_user()
    block(client_for, blocker, owner)
    response = client_for(owner).post(
        "/api/v1/groups", {"name": "x", "member_ids": [str(ann.pk), str(blocker.pk)]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "blocked"
    assert str(blocker.pk) in response.json()["detail"]
    assert str(ann.pk) not in response.json()["detail"]
    assert ChatGroup.objects.count() == 0
    # Without them the group is created.
    retry = client_for(owner).post(
        "/api/v1/groups", {"name": "x", "member_ids": [str(ann.pk)]}, format="json"
    )
    assert retry.status_code == 201


def test_create_respects_the_member_cap(make_user, user_client, settings):
    settings.GROUP_MAX_MEMBERS = 3
    others = [str(make_user().pk) for _ in range(3)]
    response = user_client.post("/api/v1/groups", {"name": "x", "member_ids": others}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_members"
    assert (
        user_client.post("/api/v1/groups", {"name": "x", "member_ids": others[:2]}, format="json").status_code
        == 201
    )


def test_list_shows_only_my_groups_with_role_and_count(
    make_user, make_group, client_for, django_assert_max_num_queries
):
    me, other = make_user(), make_user()
    mine = [make_group(me, members=[other]) for _ in range(3)]
    theirs = make_group(other, members=[make_user()])
    joined = make_group(other, members=[me, make_user()])
    client = client_for(me)

    with django_assert_max_num_queries(2):
        response = client.get("/api/v1/groups")
    results = response.json()["results"]
    assert {r["id"] for r in results} == {str(g.pk) for g in [*mine, joined]}
    assert str(theirs.pk) not in {r["id"] for r in results}
    by_id = {r["id"]: r for r in results}
    assert by_id[str(joined.pk)]["my_role"] == "member"
    assert by_id[str(joined.pk)]["member_count"] == 3
    assert by_id[str(mine[0].pk)]["my_role"] == "owner"
    assert by_id[str(mine[0].pk)]["member_count"] == 2


def test_detail_runs_a_fixed_number_of_queries(
    make_user, make_group, client_for, django_assert_max_num_queries
):
    owner = make_user()
    group = make_group(owner, members=[make_user() for _ in range(20)])
    client = client_for(owner)
    with django_assert_max_num_queries(3):
        body = client.get(f"/api/v1/groups/{group.pk}/").json()  # trailing slash works too
    assert len(body["members"]) == 21
    assert body["members"][0]["role"] == "owner"


def test_edit_name_and_description_publishes_group_updated(make_user, make_group, client_for, capture_events):
    owner, admin = make_user(), make_user()
    group = make_group(owner, admins=[admin])
    with capture_events() as sent:
        response = client_for(admin).patch(
            f"/api/v1/groups/{group.pk}", {"description": "new"}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["description"] == "new" and response.json()["name"] == "Team"
    assert response.json()["my_role"] == "admin"
    [event] = sent
    assert event["type"] == "group.updated"
    assert event["groups"] == [realtime_chat_group_name(group.pk)]
    assert event["data"]["description"] == "new" and event["data"]["updated_by"] == str(admin.pk)


def test_empty_edit_is_400(make_user, make_group, client_for):
    owner = make_user()
    group = make_group(owner)
    assert client_for(owner).patch(f"/api/v1/groups/{group.pk}", {}, format="json").status_code == 400


def test_add_member_publishes_to_the_group_then_the_new_member(
    make_user, make_group, client_for, capture_events
):
    owner, ann, bob = make_user(), make_user(), make_user()
    group = make_group(owner, members=[ann])
    with capture_events() as sent:
        response = client_for(owner).post(
            f"/api/v1/groups/{group.pk}/members", {"user_id": str(bob.pk)}, format="json"
        )
    assert response.status_code == 201
    assert response.json()["user"]["id"] == str(bob.pk) and response.json()["role"] == "member"
    assert [e["groups"] for e in sent] == [
        [realtime_chat_group_name(group.pk)],
        [realtime_user_group_name(bob.pk)],
    ]
    assert all(e["type"] == "group.member.added" and e["data"]["user_ids"] == [str(bob.pk)] for e in sent)
    assert client_for(bob).get(f"/api/v1/groups/{group.pk}").status_code == 200


def test_add_member_errors(make_user, make_group, client_for, settings):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    client = client_for(owner)
    url = f"/api/v1/groups/{group.pk}/members"

    assert client.post(url, {"user_id": str(ann.pk)}, format="json").json()["code"] == "already_member"
    unknown = client.post(url, {"user_id": str(uuid.uuid4())}, format="json")
    assert unknown.status_code == 404 and unknown.json()["code"] == "user_not_found"
    assert (
        client.post(url, {"user_id": str(make_user().pk), "role": "owner"}, format="json").status_code == 400
    )
    assert client.post(url, {}, format="json").status_code == 400
    settings.GROUP_MAX_MEMBERS = 2
    full = client.post(url, {"user_id": str(make_user().pk)}, format="json")
    assert full.status_code == 409 and full.json()["code"] == "group_full"
    assert len(roles(group)) == 2


def test_adding_a_user_who_blocked_the_adder_is_403(make_user, make_group, client_for):
    owner, admin, blocker = make_user(), make_user(), make_user()
    group = make_group(owner, admins=[admin])
    block(client_for, blocker, admin)
    response = client_for(admin).post(
        f"/api/v1/groups/{group.pk}/members", {"user_id": str(blocker.pk)}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "blocked"
    assert blocker.pk not in roles(group)
    # The block is between those two only: the owner may still add them.
    response = client_for(owner).post(
        f"/api/v1/groups/{group.pk}/members", {"user_id": str(blocker.pk)}, format="json"
    )
    assert response.status_code == 201


def test_remove_member_publishes_to_the_group_then_the_removed_user(
    make_user, make_group, client_for, capture_events
):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    with capture_events() as sent:
        assert client_for(owner).delete(f"/api/v1/groups/{group.pk}/members/{ann.pk}").status_code == 204
    assert [e["groups"] for e in sent] == [
        [realtime_chat_group_name(group.pk)],
        [realtime_user_group_name(ann.pk)],
    ]
    assert sent[0]["data"] == {
        "group_id": str(group.pk),
        "user_id": str(ann.pk),
        "removed_by": str(owner.pk),
        "reason": "removed",
    }
    assert ann.pk not in roles(group)


def test_leave_reason_is_left(make_user, make_group, client_for, capture_events):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    with capture_events() as sent:
        assert client_for(ann).delete(f"/api/v1/groups/{group.pk}/members/{ann.pk}/").status_code == 204
    assert sent[0]["data"]["reason"] == "left"


def test_removing_a_non_member_is_404_member_not_found(make_user, make_group, client_for):
    owner = make_user()
    group = make_group(owner)
    response = client_for(owner).delete(f"/api/v1/groups/{group.pk}/members/{make_user().pk}")
    assert response.status_code == 404 and response.json()["code"] == "member_not_found"


def test_owner_cannot_leave_but_can_after_transferring(make_user, make_group, client_for):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    client = client_for(owner)
    assert (
        client.delete(f"/api/v1/groups/{group.pk}/members/{owner.pk}").json()["code"] == "owner_must_transfer"
    )

    response = client.post(
        f"/api/v1/groups/{group.pk}/transfer-ownership", {"user_id": str(ann.pk)}, format="json"
    )
    assert response.status_code == 200 and response.json()["my_role"] == "admin"
    assert roles(group) == {ann.pk: "owner", owner.pk: "admin"}
    assert client.delete(f"/api/v1/groups/{group.pk}/members/{owner.pk}").status_code == 204
    assert roles(group) == {ann.pk: "owner"}


def test_transfer_errors_and_event(make_user, make_group, client_for, capture_events):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    client = client_for(owner)
    url = f"/api/v1/groups/{group.pk}/transfer-ownership"
    assert client.post(url, {"user_id": str(owner.pk)}, format="json").status_code == 400
    assert (
        client.post(url, {"user_id": str(make_user().pk)}, format="json").json()["code"] == "member_not_found"
    )
    with capture_events() as sent:
        client.post(url, {"user_id": str(ann.pk)}, format="json")
    [event] = sent
    assert event["type"] == "group.updated"
    assert event["data"]["role_changes"] == [
        {"user_id": str(ann.pk), "role": "owner"},
        {"user_id": str(owner.pk), "role": "admin"},
    ]


def test_change_role_promotes_and_demotes(make_user, make_group, client_for, capture_events):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    client = client_for(owner)
    url = f"/api/v1/groups/{group.pk}/members/{ann.pk}"
    with capture_events() as sent:
        response = client.patch(url, {"role": "admin"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "admin"
    assert sent[0]["data"]["role_changes"] == [{"user_id": str(ann.pk), "role": "admin"}]
    assert client.patch(url, {"role": "member"}, format="json").json()["role"] == "member"
    assert client.patch(url, {"role": "owner"}, format="json").status_code == 400
    own = client.patch(f"/api/v1/groups/{group.pk}/members/{owner.pk}", {"role": "member"}, format="json")
    assert own.status_code == 400 and own.json()["code"] == "invalid_role_change"
    assert roles(group) == {owner.pk: "owner", ann.pk: "member"}


def test_an_admin_may_remove_members_but_not_admins(make_user, make_group, client_for):
    owner, admin, other_admin, member = make_user(), make_user(), make_user(), make_user()
    group = make_group(owner, admins=[admin, other_admin], members=[member])
    client = client_for(admin)
    assert client.delete(f"/api/v1/groups/{group.pk}/members/{owner.pk}").status_code == 403
    assert client.delete(f"/api/v1/groups/{group.pk}/members/{other_admin.pk}").status_code == 403
    assert client.delete(f"/api/v1/groups/{group.pk}/members/{member.pk}").status_code == 204


def test_delete_group_removes_everything_and_tells_the_members(
    make_user, make_group, client_for, send, capture_events
):
    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    send(owner, group)
    with capture_events() as sent:
        assert client_for(owner).delete(f"/api/v1/groups/{group.pk}").status_code == 204
    assert sent == [
        {
            "groups": [realtime_chat_group_name(group.pk)],
            "type": "group.deleted",
            "data": {"group_id": str(group.pk), "deleted_by": str(owner.pk)},
        }
    ]
    assert not ChatGroup.objects.filter(pk=group.pk).exists()
    assert client_for(ann).get(f"/api/v1/groups/{group.pk}").status_code == 404
    assert group_ids_for_user(user_id=ann.pk) == []


def test_malformed_group_id_is_a_json_404(user_client):
    response = user_client.get("/api/v1/groups/not-a-uuid")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def owners(group) -> list:
    return list(GroupMember.objects.filter(group=group, role="owner").values_list("user_id", flat=True))


def test_a_group_always_has_exactly_one_owner(make_user, make_group, client_for):
    owner, ann, bob = make_user(), make_user(), make_user()
    group = make_group(owner, admins=[ann], members=[bob])
    assert owners(group) == [owner.pk]
    client = client_for(owner)
    # Roles never reach `owner` except by transfer, and the owner's own role cannot be changed.
    assert (
        client.patch(
            f"/api/v1/groups/{group.pk}/members/{bob.pk}", {"role": "owner"}, format="json"
        ).status_code
        == 400
    )
    assert (
        client.post(
            f"/api/v1/groups/{group.pk}/members",
            {"user_id": str(make_user().pk), "role": "owner"},
            format="json",
        ).status_code
        == 400
    )
    assert (
        client.patch(
            f"/api/v1/groups/{group.pk}/members/{owner.pk}", {"role": "admin"}, format="json"
        ).status_code
        == 400
    )
    assert owners(group) == [owner.pk]

    assert (
        client.post(
            f"/api/v1/groups/{group.pk}/transfer-ownership", {"user_id": str(bob.pk)}, format="json"
        ).status_code
        == 200
    )
    assert owners(group) == [bob.pk]
    assert roles(group) == {owner.pk: "admin", ann.pk: "admin", bob.pk: "owner"}
    # The old owner is an admin now: no owner powers left.
    assert client.delete(f"/api/v1/groups/{group.pk}").status_code == 403
    assert (
        client_for(bob)
        .post(f"/api/v1/groups/{group.pk}/transfer-ownership", {"user_id": str(ann.pk)}, format="json")
        .status_code
        == 200
    )
    assert owners(group) == [ann.pk]


def test_the_database_itself_refuses_a_second_owner(make_user, make_group):
    from django.db import IntegrityError, transaction

    owner, ann = make_user(), make_user()
    group = make_group(owner, members=[ann])
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupMember.objects.filter(group=group, user=ann).update(role="owner")
    assert owners(group) == [owner.pk]
