"""The permission matrix: owner, admin, member and outsider against every action of the groups
table. Outsiders get 404 (the same answer as for a group that does not exist); members whose
role does not allow an action get 403 and change nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from groups.models import ChatGroup, GroupMember
from tests.groups.helpers import message_body

pytestmark = pytest.mark.django_db


@dataclass
class World:
    group: ChatGroup
    owner: object
    admin: object
    member: object
    outsider: object
    plain_target: object  # a plain member others try to remove or promote
    admin_target: object  # a second admin
    candidate: object  # not in the group; others try to add them
    message: dict  # a valid send body: one key per member


@pytest.fixture
def world(make_user, make_group) -> World:
    owner, admin, member, outsider = make_user(), make_user(), make_user(), make_user()
    plain_target, admin_target, candidate = make_user(), make_user(), make_user()
    group = make_group(owner, admins=[admin, admin_target], members=[member, plain_target])
    return World(
        group, owner, admin, member, outsider, plain_target, admin_target, candidate, message_body(group)
    )


def snapshot(group: ChatGroup) -> tuple:
    group.refresh_from_db()
    roles = sorted((str(m.user_id), m.role) for m in GroupMember.objects.filter(group=group))
    return group.name, group.description, roles, group.messages.count()


def url(w: World, suffix: str = "") -> str:
    return f"/api/v1/groups/{w.group.pk}{suffix}"


ACTIONS = {
    "detail": lambda c, w: c.get(url(w)),
    "edit": lambda c, w: c.patch(url(w), {"name": "Renamed"}, format="json"),
    "add_member": lambda c, w: c.post(url(w, "/members"), {"user_id": str(w.candidate.pk)}, format="json"),
    "add_admin": lambda c, w: c.post(
        url(w, "/members"), {"user_id": str(w.candidate.pk), "role": "admin"}, format="json"
    ),
    "remove_member": lambda c, w: c.delete(url(w, f"/members/{w.plain_target.pk}")),
    "remove_admin": lambda c, w: c.delete(url(w, f"/members/{w.admin_target.pk}")),
    "change_role": lambda c, w: c.patch(
        url(w, f"/members/{w.plain_target.pk}"), {"role": "admin"}, format="json"
    ),
    "transfer": lambda c, w: c.post(
        url(w, "/transfer-ownership"), {"user_id": str(w.plain_target.pk)}, format="json"
    ),
    "delete": lambda c, w: c.delete(url(w)),
    "list_messages": lambda c, w: c.get(url(w, "/messages")),
    "send_message": lambda c, w: c.post(url(w, "/messages"), w.message, format="json"),
    "leave": lambda c, w: c.delete(url(w, f"/members/{c.user.pk}")),
}

#                  owner admin member outsider
EXPECTED = {
    "detail": (200, 200, 200, 404),
    "edit": (200, 200, 403, 404),
    "add_member": (201, 201, 403, 404),
    "add_admin": (201, 403, 403, 404),
    "remove_member": (204, 204, 403, 404),
    "remove_admin": (204, 403, 403, 404),
    "change_role": (200, 403, 403, 404),
    "transfer": (200, 403, 403, 404),
    "delete": (204, 403, 403, 404),
    "list_messages": (200, 200, 200, 404),
    "send_message": (201, 201, 201, 404),
    "leave": (409, 204, 204, 404),
}
ROLES = ("owner", "admin", "member", "outsider")


def test_matrix_covers_every_route_of_the_table():
    assert set(ACTIONS) == set(EXPECTED)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_permission_matrix(world, client_for, action, role):
    expected = EXPECTED[action][ROLES.index(role)]
    caller = getattr(world, role)
    before = snapshot(world.group)

    response = ACTIONS[action](client_for(caller), world)

    assert response.status_code == expected, (action, role, response.content)
    if expected == 404:
        assert response.json()["code"] == "group_not_found"
    if expected == 403:
        assert response.json()["code"] == "group_permission_denied"
    if expected in (403, 404, 409):
        assert snapshot(world.group) == before, "a refused action changed something"


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_outsider_answer_is_the_same_as_for_a_group_that_does_not_exist(world, client_for, action):
    """No existence oracle: a real group the caller is not in looks exactly like no group."""
    outsider = client_for(world.outsider)
    real = ACTIONS[action](outsider, world)
    world.group = ChatGroup(pk=uuid.uuid4())  # an id that was never created
    missing = ACTIONS[action](outsider, world)
    assert real.status_code == missing.status_code == 404
    assert real.json() == missing.json()


def test_unauthenticated_is_401(api_client, world):
    assert api_client.get(url(world)).status_code == 401
    assert api_client.get("/api/v1/groups").status_code == 401
