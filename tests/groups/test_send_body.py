"""The group send body's fast path (groups.send_body) against GroupMessageSendSerializer: for every
body, either both refuse it (and the serializer's own error is what the client gets) or both accept
it with the same values. No database: it is input checking only."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from rest_framework.exceptions import APIException, ValidationError

from groups.send_body import _fast, validated_group_send_body
from groups.serializers import GroupMessageSendSerializer

MEMBERS = [str(uuid.uuid4()) for _ in range(5)]
MEDIA = [str(uuid.uuid4()) for _ in range(33)]


def b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode("ascii")


def body(**changes):
    value = {
        "encrypted_content": b64(48),
        "encrypted_session_keys": {member: b64(48) for member in MEMBERS},
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes-256-gcm",
        "client_message_id": str(uuid.uuid4()),
    }
    value.update(changes)
    return {key: item for key, item in value.items() if item is not ...}


def keys(**changes):
    value = {member: b64(48) for member in MEMBERS[:2]}
    value.update(changes)
    return value


ACCEPTED = [
    body(),
    body(client_message_id=..., attachment_ids=...),
    body(client_message_id=None, attachment_ids=[]),
    body(client_message_id=MEMBERS[0].upper()),
    body(attachment_ids=MEDIA[:32]),
    body(attachment_ids=[MEDIA[0], MEDIA[0].upper()]),  # kept as sent: the service dedupes
    body(crypto_version="a" * 32, encryption_algorithm="A-z_0.9:+/ x" * 5),
    body(extra_field="ignored"),
    body(encrypted_content=b64(1)),
    body(encrypted_session_keys={MEMBERS[0]: b64(1)}),
    body(encrypted_session_keys={MEMBERS[0]: b64(4096)}),  # exactly MESSAGE_MAX_KEY_BYTES
    # Spellings of a member id: read as the field reads them; spellings of one id collapse.
    body(encrypted_session_keys={MEMBERS[0].upper(): b64(8), MEMBERS[1].replace("-", ""): b64(8)}),
    body(encrypted_session_keys={"{" + MEMBERS[0] + "}": b64(8), "urn:uuid:" + MEMBERS[1]: b64(8)}),
    body(encrypted_session_keys={MEMBERS[0]: b64(8), MEMBERS[0].upper(): b64(9)}),
]
# Valid, but not the common shape: the fast path leaves them to the serializer, whose values count.
DECLINED = [
    body(crypto_version=" 1"),  # trimmed by the serializer
    body(crypto_version="1\n"),
    body(crypto_version="é"),
    body(encryption_algorithm="x25519\tgcm"),
]
REFUSED = [
    "not an object",
    [body()],
    body(encrypted_content=...),
    body(encrypted_session_keys=...),
    body(crypto_version=...),
    body(encryption_algorithm=...),
    body(encrypted_content=""),
    body(encrypted_content="YWJj="),  # surplus padding
    body(encrypted_content="QR=="),  # non-zero trailing bits
    body(encrypted_content=5),
    body(encrypted_content=b64(300_000)),  # past MESSAGE_MAX_CIPHERTEXT_BYTES: the 413
    body(encrypted_session_keys={}),
    body(encrypted_session_keys=None),
    body(encrypted_session_keys=[]),
    body(encrypted_session_keys="a string"),
    body(encrypted_session_keys=keys(**{"not-a-uuid": b64(8)})),
    body(encrypted_session_keys=keys(**{MEMBERS[2]: None})),
    body(encrypted_session_keys=keys(**{MEMBERS[2]: 5})),
    body(encrypted_session_keys=keys(**{MEMBERS[2]: ""})),
    body(encrypted_session_keys=keys(**{MEMBERS[2]: "!!"})),
    body(encrypted_session_keys=keys(**{MEMBERS[2]: "QR=="})),
    body(encrypted_session_keys=keys(**{MEMBERS[2]: b64(4097)})),  # one byte past: the 413
    body(encrypted_session_keys={str(uuid.uuid4()): b64(8) for _ in range(1001)}),  # past the cap
    body(crypto_version=""),
    body(crypto_version="a" * 33),
    body(crypto_version=1),
    body(crypto_version="a\x00b"),
    body(encryption_algorithm="x" * 65),
    body(client_message_id=0),
    body(client_message_id=False),
    body(client_message_id="not a uuid"),
    body(attachment_ids=MEDIA),  # 33: one past the limit
    body(attachment_ids="not a list"),
    body(attachment_ids=[5]),
]


def serializer_verdict(data):
    serializer = GroupMessageSendSerializer(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except APIException as exc:
        return type(exc), exc.status_code, exc.detail
    return dict(serializer.validated_data)


@pytest.mark.parametrize("data", ACCEPTED)
def test_a_valid_body_gives_the_serializers_values_without_the_serializer(data):
    assert _fast(data) is not None
    assert validated_group_send_body(data) == serializer_verdict(data)


@pytest.mark.parametrize("data", DECLINED)
def test_a_valid_body_the_fast_path_declines_gets_the_serializers_values(data):
    assert _fast(data) is None
    expected = serializer_verdict(data)
    assert isinstance(expected, dict), "the serializer refuses it: the corpus is wrong"
    assert validated_group_send_body(data) == expected


@pytest.mark.parametrize("data", REFUSED)
def test_a_refused_body_gets_the_serializers_own_error(data):
    assert _fast(data) is None
    expected = serializer_verdict(data)
    assert isinstance(expected, tuple), "the serializer accepts it: the corpus is wrong"
    with pytest.raises(APIException) as raised:
        validated_group_send_body(data)
    assert (type(raised.value), raised.value.status_code, raised.value.detail) == expected


@pytest.mark.parametrize(
    "data",
    [
        body(encrypted_content=b64(300_000)),
        body(encrypted_session_keys=keys(**{MEMBERS[2]: b64(5000)})),
    ],
)
def test_a_413_stays_a_413(data):
    with pytest.raises(APIException) as raised:
        validated_group_send_body(data)
    assert raised.value.status_code == 413
    assert not isinstance(raised.value, ValidationError)
