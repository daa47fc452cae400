"""The group send body's fast path (issue 15): `POST /groups/{id}/messages` carries one wrapped
key per member (a thousand at the cap), and DRF's DictField runs a child field per key (about
6 us each, with the UUID checks). A valid body is checked here in one pass; anything the fast
path does not accept goes through `GroupMessageSendSerializer` itself, so every error (each
field's message, the 413 of an oversized value) is the serializer's own.

`validated_group_send_body` accepts exactly what the serializer accepts and gives the same values
(tests/groups/test_send_body.py holds the two together over a corpus of bodies). The size limits
are read from the serializer's fields, not restated here.
"""

from __future__ import annotations

import binascii
from typing import Any, cast
from uuid import UUID

from django.conf import settings

from core.fastpath import NOT_VALID, base64_or_not_valid, uuid_or_not_valid
from core.fields import Base64BytesField, StrictCharField
from groups.serializers import MAX_ATTACHMENTS, GroupMessageSendSerializer


def _limit(field: Any) -> int:
    return cast(int, cast(Base64BytesField, field)._limit())  # every ciphertext field has a cap


def _max_length(field_name: str) -> int:
    field = cast(StrictCharField, GroupMessageSendSerializer._declared_fields[field_name])
    return cast(int, field.max_length)


def _text(value: Any, field_name: str) -> Any:
    """StrictCharField's rules for the values it keeps as they are: a string, not blank, no
    surrounding whitespace to trim, within max_length, no NUL, no surrogate (printable ASCII
    has none of those; anything else is the serializer's to judge)."""
    if (
        type(value) is not str
        or not 0 < len(value) <= _max_length(field_name)
        or not value.isascii()
        or not value.isprintable()
        or value.strip() != value
    ):
        return NOT_VALID
    return value


def _keys(value: Any) -> Any:
    """WrappedKeysField: {user id: base64 key}, 1 to GROUP_MAX_MEMBERS of them. Keys are read as
    the field reads them (`UUID(str(key))`, so spellings of one id collapse, the last one kept)."""
    if type(value) is not dict or not 0 < len(value) <= settings.GROUP_MAX_MEMBERS:
        return NOT_VALID
    limit = settings.MESSAGE_MAX_KEY_BYTES
    keys: dict[UUID, bytes] = {}
    # base64.b64decode(validate=True) is binascii's strict decode behind a Python wrapper.
    a2b, b2a = binascii.a2b_base64, binascii.b2a_base64
    for key, wrapped in value.items():
        # The common shape inlined (core.fastpath's checks), as this loop runs per member.
        if type(key) is not str or type(wrapped) is not str or not wrapped:
            return NOT_VALID
        if (len(wrapped) // 4) * 3 > limit + 2:  # past the cap: the serializer's 413
            return NOT_VALID
        try:
            user_id = UUID(key)
            decoded = a2b(wrapped, strict_mode=True)  # non-ASCII text: ValueError
        except (binascii.Error, ValueError):
            return NOT_VALID
        if not decoded or len(decoded) > limit or b2a(decoded, newline=False) != wrapped.encode("ascii"):
            return NOT_VALID
        keys[user_id] = decoded
    return keys


def _fast(data: Any) -> dict[str, Any] | None:
    if type(data) is not dict:
        return None
    fields = GroupMessageSendSerializer._declared_fields
    attachments = data.get("attachment_ids", [])
    if type(attachments) is not list or len(attachments) > MAX_ATTACHMENTS:
        return None
    client_message_id = data.get("client_message_id")
    body = {
        "encrypted_content": base64_or_not_valid(
            data.get("encrypted_content"), _limit(fields["encrypted_content"])
        ),
        "encrypted_session_keys": _keys(data.get("encrypted_session_keys")),
        "crypto_version": _text(data.get("crypto_version"), "crypto_version"),
        "encryption_algorithm": _text(data.get("encryption_algorithm"), "encryption_algorithm"),
        "client_message_id": None if client_message_id is None else uuid_or_not_valid(client_message_id),
        "attachment_ids": [uuid_or_not_valid(media_id) for media_id in attachments],
    }
    if any(value is NOT_VALID for value in body.values()) or NOT_VALID in body["attachment_ids"]:
        return None
    return body


def validated_group_send_body(data: Any) -> dict[str, Any]:
    """The group send body's values, as `GroupMessageSendSerializer(data=data).validated_data`
    gives them; raises its ValidationError (or 413) for a body it refuses."""
    body = _fast(data)
    if body is not None:
        return body
    serializer = GroupMessageSendSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
