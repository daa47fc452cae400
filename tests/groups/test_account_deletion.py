"""accounts.events.user_deleted: the user leaves every group; ownership passes on or the group goes."""

from __future__ import annotations

import pytest

from accounts.events import user_deleted
from groups import services
from groups.models import ChatGroup, GroupMember

pytestmark = pytest.mark.django_db


def roles(group) -> dict:
    return {m.user_id: m.role for m in GroupMember.objects.filter(group=group)}


def delete_account(user) -> None:
    user_deleted.send(sender=None, user_id=user.pk)


def test_ownership_passes_to_the_longest_standing_admin(make_user, make_group, capture_events):
    owner, early_member, first_admin, second_admin = make_user(), make_user(), make_user(), make_user()
    group = make_group(owner, members=[early_member])
    services.group_member_add(group_id=group.pk, actor_id=owner.pk, user_id=first_admin.pk, role="admin")
    services.group_member_add(group_id=group.pk, actor_id=owner.pk, user_id=second_admin.pk, role="admin")

    with capture_events() as sent:
        delete_account(owner)

    assert roles(group) == {early_member.pk: "member", first_admin.pk: "owner", second_admin.pk: "admin"}
    types = [e["type"] for e in sent]
    assert types == ["group.updated", "group.member.removed", "group.member.removed"]
    assert sent[1]["data"]["reason"] == "account_deleted" and sent[1]["data"]["removed_by"] is None


def test_without_admins_ownership_passes_to_the_longest_standing_member(make_user, make_group):
    owner, first, second = make_user(), make_user(), make_user()
    group = make_group(owner, members=[first])
    services.group_member_add(group_id=group.pk, actor_id=owner.pk, user_id=second.pk)
    delete_account(owner)
    assert roles(group) == {first.pk: "owner", second.pk: "member"}


def test_a_group_left_empty_is_deleted(make_user, make_group, capture_events):
    owner = make_user()
    group = make_group(owner)
    with capture_events() as sent:
        delete_account(owner)
    assert not ChatGroup.objects.filter(pk=group.pk).exists()
    assert [e["type"] for e in sent] == ["group.deleted"]


def test_a_plain_member_just_leaves_every_group(make_user, make_group, send):
    owner, ann = make_user(), make_user()
    groups = [make_group(owner, members=[ann]) for _ in range(3)]
    send(owner, groups[0])
    delete_account(ann)
    assert all(roles(g) == {owner.pk: "owner"} for g in groups)
    # Messages already sent stay for the others.
    assert groups[0].messages.count() == 1
