"""Fixtures of the groups tests: groups built through the services, and a sender (plain helpers:
tests/groups/helpers.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from groups import services
from groups.models import ChatGroup
from tests.groups.helpers import message_body


@pytest.fixture
def make_group(make_user):
    """`make_group(owner, admins=[...], members=[...])` -> a ChatGroup built through the services."""

    def make(owner=None, *, admins: Iterable = (), members: Iterable = (), name: str = "Team") -> ChatGroup:
        owner = owner or make_user()
        admins, members = list(admins), list(members)
        group = services.group_create(
            creator_id=owner.pk, name=name, member_ids=[u.pk for u in admins + members]
        )
        for admin in admins:
            services.group_member_set_role(
                group_id=group.pk, actor_id=owner.pk, user_id=admin.pk, role="admin"
            )
        return group

    return make


@pytest.fixture
def send(client_for):
    """`send(user, group, **extra)` -> the response of POST /groups/{id}/messages."""

    def do(user, group: ChatGroup, content: bytes = b"ciphertext", **extra: Any):
        return client_for(user).post(
            f"/api/v1/groups/{group.pk}/messages", message_body(group, content, **extra), format="json"
        )

    return do
