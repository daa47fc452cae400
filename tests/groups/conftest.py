"""Helpers for the groups tests: groups built through the services, wrapped keys per member."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import pytest

from groups import services
from groups.models import ChatGroup, GroupMember


def wrapped_key(user_id: Any, salt: str = "") -> str:
    """A distinct fake wrapped key per user: tests can tell whose key they were handed."""
    return base64.b64encode(f"key-for-{user_id}{salt}".encode()).decode()


def keys_for(user_ids: Iterable[Any], salt: str = "") -> dict[str, str]:
    return {str(uid): wrapped_key(uid, salt) for uid in user_ids}


def member_ids(group: ChatGroup) -> set:
    return set(GroupMember.objects.filter(group=group).values_list("user_id", flat=True))


def message_body(group: ChatGroup, content: bytes = b"ciphertext", **extra: Any) -> dict[str, Any]:
    body = {
        "encrypted_content": base64.b64encode(content).decode(),
        "encrypted_session_keys": keys_for(member_ids(group)),
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes256gcm",
    }
    body.update(extra)
    return body


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
