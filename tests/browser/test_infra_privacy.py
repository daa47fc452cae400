"""The privacy checker (tests/browser/privacy.py) against a running stack (`messenger_app`): it
passes when the plaintexts are nowhere, and finds one planted in each place it searches: a row
(a text column and a bytea one, which pg_dump writes as hex), an S3 object, a Redis key's value
and its name, and a line of the server's log."""

from __future__ import annotations

import uuid

import httpx
import pytest
import redis
from django.conf import settings

from tests.browser.privacy import MIN_PLAINTEXT_BYTES, searched_forms, where_plaintexts_appear

pytestmark = pytest.mark.integration


def fresh(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex}"


def places(messenger_app, plaintexts) -> list[str]:
    return [
        f"{finding.place} [{finding.form}]"
        for finding in where_plaintexts_appear(
            plaintexts,
            database_url=messenger_app.database_url,
            s3_client=messenger_app.s3.client(),
            buckets=[messenger_app.bucket],
            redis_url=settings.REDIS_URL,
            files=[*messenger_app.log_paths(), *messenger_app.mail_paths()],
        )
    ]


def test_passes_when_absent_and_finds_a_plaintext_planted_in_each_place(messenger_app, make_user):
    """One stack for every place (each stack costs seconds): each plaintext is planted in one
    place only, and is found there and nowhere else."""
    in_text, in_bytea, in_object = fresh("typed-name"), fresh("typed-bytes"), fresh("attachment-bytes")
    in_value, in_key_name, in_log = fresh("cached-text"), fresh("key-text"), fresh("logged-path")
    everything = [in_text, in_bytea, in_object, in_value, in_key_name, in_log]
    messenger_app.assert_plaintexts_absent([*everything, fresh("never-sent").encode()])

    # A row: a text column, and a bytea column (pg_dump writes it as hex).
    from accounts.models import IdentityKeys

    user = make_user(full_name=in_text)
    IdentityKeys.objects.create(
        user=user,
        identity_key=in_bytea.encode(),
        signed_prekey_id=1,
        signed_prekey=b"\x00" * 32,
        signed_prekey_signature=b"\x00" * 64,
    )
    # An S3 object.
    object_key = f"attachments/{uuid.uuid4().hex}"
    messenger_app.s3.client().put_object(
        Bucket=messenger_app.bucket, Key=object_key, Body=b"\x89PNG..." + in_object.encode() + b"..."
    )
    # A Redis value (a hash's) and a key's name.
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.hset(f"{messenger_app.redis_prefix}:hash", "field", f'{{"text": "{in_value}"}}')
        client.set(f"{messenger_app.redis_prefix}:{in_key_name}", b"opaque")
    finally:
        client.close()
    # A server log line: uvicorn's access log (INFO, as in production) writes every path.
    response = httpx.get(f"{messenger_app.url}/{in_log}", trust_env=False, timeout=10)
    assert response.status_code == 404

    in_users = places(messenger_app, [in_text])
    assert in_users and all("table public.users" in place for place in in_users), in_users
    in_keys = places(messenger_app, [in_bytea])
    assert in_keys and all("table public.identity_keys" in p and "[hex]" in p for p in in_keys), in_keys
    assert places(messenger_app, [in_object]) == [f"s3://{messenger_app.bucket}/{object_key} [bytes]"]
    assert places(messenger_app, [in_value]) == [
        f"redis: the value of '{messenger_app.redis_prefix}:hash' [bytes]"
    ]
    assert places(messenger_app, [in_key_name]) == [
        f"redis: the key name '{messenger_app.redis_prefix}:{in_key_name}' [bytes]"
    ]
    logged = places(messenger_app, [in_log])
    assert logged and all(str(messenger_app.server.log_path) in place for place in logged), logged
    with pytest.raises(AssertionError) as failure:
        messenger_app.assert_plaintexts_absent(everything)
    for where in ("table public.users", "table public.identity_keys", object_key, ":hash", "server.log"):
        assert where in str(failure.value)


def test_non_ascii_text_is_searched_as_json_logs_write_it():
    forms = searched_forms("grüße aus köln\n")
    assert forms["bytes"] == "grüße aus köln\n".encode()
    assert forms["json"] == b"gr\\u00fc\\u00dfe aus k\\u00f6ln\\n"
    assert "grüße aus köln\\n".encode() in forms.values()  # pg_dump's COPY escaping
    assert forms["hex"] == "grüße aus köln\n".encode().hex().encode()


def test_short_plaintexts_are_refused():
    with pytest.raises(ValueError, match=str(MIN_PLAINTEXT_BYTES)):
        where_plaintexts_appear(["hi"])
