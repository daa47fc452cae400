"""The send body's fast path (messaging.send_body) against MessageSendSerializer: for every body,
either both refuse it (and the serializer's own error is what the client gets) or both accept it
with the same values. No database: it is input checking only."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from rest_framework.exceptions import APIException, ValidationError

from messaging.send_body import _fast, validated_send_body
from messaging.serializers import MessageSendSerializer
from tests.messaging.helpers import SEND_CASES

RECIPIENT = "0b7b3f1e-51b4-4b4e-9c7e-3a7f2f0c6d11"


def b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode("ascii")


def body(**changes):
    value = {
        "recipient_id": RECIPIENT,
        "encrypted_content": b64(48),
        "encrypted_session_key": b64(32),
        "sender_encrypted_session_key": b64(32),
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes-256-gcm",
        "client_message_id": str(uuid.uuid4()),
    }
    value.update(changes)
    return {key: item for key, item in value.items() if item is not ...}


MEDIA = [str(uuid.uuid4()) for _ in range(11)]
ACCEPTED = [
    body(),
    body(sender_encrypted_session_key=..., client_message_id=...),
    body(sender_encrypted_session_key=None, client_message_id=None, attachment_ids=[]),
    body(recipient_id=RECIPIENT.upper()),
    body(recipient_id=RECIPIENT.replace("-", "")),
    body(recipient_id="{" + RECIPIENT + "}"),
    body(recipient_id="urn:uuid:" + RECIPIENT),
    body(attachment_ids=MEDIA[:10]),
    body(attachment_ids=[MEDIA[0], MEDIA[0].upper(), MEDIA[1]]),  # a repeat is one attachment
    body(crypto_version="a" * 32, encryption_algorithm="A-z_0.9:+/" * 6),
    body(extra_field="ignored", recipient_name="also ignored"),
    body(encrypted_content=b64(1), encrypted_session_key=b64(2)),
]
REFUSED = [
    *(change if not isinstance(change, dict) else body(**change) for _, change in SEND_CASES),
    body(recipient_id=...),
    body(encrypted_content=...),
    body(crypto_version=...),
    body(recipient_id=5),
    body(recipient_id="not a uuid"),
    body(client_message_id=0),
    body(client_message_id=False),
    body(attachment_ids=MEDIA),  # 11: one past the limit
    body(attachment_ids="not a list"),
    body(attachment_ids=[5]),
    body(crypto_version="a" * 33),
    body(crypto_version=""),
    body(crypto_version=" 1"),
    body(crypto_version="1\n"),
    body(crypto_version=1),
    body(encryption_algorithm="x" * 65),
    body(encryption_algorithm="a b"),
    body(encrypted_content="YWJj="),  # surplus padding
    body(encrypted_content="QR=="),  # non-zero trailing bits
    body(encrypted_content=""),
    body(encrypted_content=b64(300_000)),  # past MESSAGE_MAX_CIPHERTEXT_BYTES: the 413
    body(encrypted_session_key=b64(5_000)),
    body(sender_encrypted_session_key=""),
    body(sender_encrypted_session_key=5),
]


def serializer_verdict(data):
    serializer = MessageSendSerializer(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except APIException as exc:
        return type(exc), exc.status_code, exc.detail
    return dict(serializer.validated_data)


@pytest.mark.parametrize("data", ACCEPTED)
def test_a_valid_body_gives_the_serializers_values_without_the_serializer(data):
    assert _fast(data) is not None
    assert validated_send_body(data) == serializer_verdict(data)


@pytest.mark.parametrize("data", REFUSED)
def test_a_refused_body_gets_the_serializers_own_error(data):
    assert _fast(data) is None
    expected = serializer_verdict(data)
    assert isinstance(expected, tuple), "the serializer accepts it: the corpus is wrong"
    with pytest.raises(APIException) as raised:
        validated_send_body(data)
    assert (type(raised.value), raised.value.status_code, raised.value.detail) == expected


def test_a_413_stays_a_413():
    with pytest.raises(APIException) as raised:
        validated_send_body(body(encrypted_content=b64(300_000)))
    assert raised.value.status_code == 413
    assert not isinstance(raised.value, ValidationError)
