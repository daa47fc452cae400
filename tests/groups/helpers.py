"""Plain helpers of the groups tests: wrapped keys per member, send bodies, a big group."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection

from accounts.models import User
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


def big_group(make_user, make_group, size: int):
    """An owner and a group of `size` members (the others created in one statement)."""
    owner = make_user()
    others = User.objects.bulk_create(
        [
            User(username=f"bulk{uuid.uuid4().hex[:12]}", email=f"{uuid.uuid4().hex}@example.com")
            for _ in range(size - 1)
        ]
    )
    return owner, make_group(owner, members=others)


# PostgreSQL writes the position, the message and every key in one statement; SQLite in three.
SEND_QUERY_BUDGET = 6 if connection.vendor == "postgresql" else 10
