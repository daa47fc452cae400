"""The key backup (issue 18): GET/PUT/DELETE /keys/backup, an opaque blob for its owner only.

What a user sees: their own backup back byte for byte, a 404 when they have none, clear 400/413
errors for bad input; what another user sees and can do: nothing of it (there is no way to name
someone else's); an account's deletion takes it along; the admin never shows it; no log line
carries it."""

from __future__ import annotations

import base64
import logging
import os

import pytest
from django.test import Client

from accounts.models import KeyBackup, User
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

BACKUP = "/api/v1/keys/backup"
ME = "/api/v1/auth/me"
KDF = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def backup_body(blob: bytes | None = None, **overrides) -> dict:
    return {"blob": b64(blob if blob is not None else os.urandom(600)), "kdf": KDF, "version": 1, **overrides}


def test_the_owner_stores_then_reads_it_back_as_sent(user_client):
    sent = backup_body()
    stored = user_client.put(BACKUP, sent, format="json")
    assert stored.status_code == 200, stored.content
    read = user_client.get(BACKUP)
    assert read.status_code == 200
    body = read.json()
    assert {key: body[key] for key in ("blob", "kdf", "version")} == sent
    assert body["updated_at"].endswith("Z")
    assert stored.json() == body
    # Nothing keeps a copy on the way: not the browser's cache, not a proxy's.
    assert read["Cache-Control"] == "no-store"
    assert stored["Cache-Control"] == "no-store"


def test_kdf_is_optional_and_kept_as_sent(user_client):
    body = {"blob": b64(b"\x00" * 40), "version": 3}
    assert user_client.put(BACKUP, body, format="json").status_code == 200
    assert user_client.get(BACKUP).json()["kdf"] == ""
    as_json = ' {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "ü"} '  # spaces kept too
    assert user_client.put(BACKUP, {**body, "kdf": as_json}, format="json").status_code == 200
    assert user_client.get(BACKUP).json()["kdf"] == as_json


def test_none_stored_is_a_404_in_the_envelope(user_client):
    for response in (user_client.get(BACKUP), user_client.delete(BACKUP)):
        assert response.status_code == 404
        assert response.json() == {"detail": "You have no key backup.", "code": "key_backup_not_found"}


def test_a_put_replaces_it(user_client):
    user_client.put(BACKUP, backup_body(b"first" * 20), format="json")
    replacing = backup_body(b"second" * 20, version=2, kdf="$scrypt$ln=15,r=8,p=1$AAAA")
    assert user_client.put(BACKUP, replacing, format="json").status_code == 200
    body = user_client.get(BACKUP).json()
    assert (body["blob"], body["version"], body["kdf"]) == (replacing["blob"], 2, replacing["kdf"])
    assert KeyBackup.objects.count() == 1


def test_delete_removes_it(user_client):
    user_client.put(BACKUP, backup_body(), format="json")
    assert user_client.delete(BACKUP).status_code == 204
    assert user_client.get(BACKUP).status_code == 404


def test_another_user_can_neither_read_nor_change_it(user, user_client, other_user, client_for):
    mine = backup_body(b"alice's keys" * 10)
    user_client.put(BACKUP, mine, format="json")
    other = client_for(other_user)

    # Their /keys/backup is their own: none.
    assert other.get(BACKUP).status_code == 404
    assert other.delete(BACKUP).status_code == 404
    # No route names another user's backup; the prekey route does not answer with it either.
    for path in (f"{BACKUP}/{user.pk}", f"/api/v1/keys/{user.pk}"):
        response = other.get(path)
        assert mine["blob"] not in response.content.decode()
    # Their PUT stores their own, next to the owner's.
    theirs = backup_body(b"bob's keys" * 10)
    assert other.put(BACKUP, theirs, format="json").status_code == 200
    assert user_client.get(BACKUP).json()["blob"] == mine["blob"]
    assert other.get(BACKUP).json()["blob"] == theirs["blob"]


def test_anonymous_requests_are_401(api_client):
    for response in (
        api_client.get(BACKUP),
        api_client.put(BACKUP, backup_body(), format="json"),
        api_client.delete(BACKUP),
    ):
        assert response.status_code == 401
        assert response.json()["code"] in {"not_authenticated", "authentication_failed"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"blob": None}, "blob", "This field may not be null."),
        ({"blob": "not base64!"}, "blob", "Not valid standard base64."),
        ({"blob": "YWJj="}, "blob", "Not valid standard base64."),
        ({"blob": ""}, "blob", "Must not be empty."),
        ({"blob": 12}, "blob", "Must be a base64 string."),
        ({"kdf": {"name": "argon2id"}}, "kdf", "Must be a string."),
        ({"kdf": 5}, "kdf", "Must be a string."),
        ({"kdf": "x" * 1025}, "kdf", "Ensure this field has no more than 1024 characters."),
        ({"version": 0}, "version", None),
        ({"version": "1"}, "version", None),
        ({"version": True}, "version", None),
        ({"version": 1.5}, "version", None),
    ],
)
def test_bad_input_is_a_400_on_the_field(user_client, change, field, message):
    response = user_client.put(BACKUP, {**backup_body(), **change}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"] and body["code"]  # the envelope: a sentence and the field error's code
    assert list(body["errors"]) == [field]
    if message:
        assert body["errors"][field] == [message]
    assert user_client.get(BACKUP).status_code == 404  # nothing stored


@pytest.mark.parametrize("missing", ["blob", "version"])
def test_missing_fields_are_named(user_client, missing):
    body = backup_body()
    del body[missing]
    response = user_client.put(BACKUP, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {missing: ["This field is required."]}


def test_a_body_that_is_not_json_is_a_400(user_client):
    response = user_client.put(BACKUP, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_the_size_cap(settings, user_client):
    settings.ACCOUNTS_KEY_BACKUP_MAX_BYTES = 1024
    assert user_client.put(BACKUP, backup_body(os.urandom(1024)), format="json").status_code == 200
    response = user_client.put(BACKUP, backup_body(os.urandom(1025)), format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert len(base64.b64decode(user_client.get(BACKUP).json()["blob"])) == 1024  # the first stays


def test_the_default_cap_is_64_kib(user_client):
    assert user_client.put(BACKUP, backup_body(os.urandom(64 * 1024)), format="json").status_code == 200
    assert user_client.put(BACKUP, backup_body(os.urandom(64 * 1024 + 1)), format="json").status_code == 413


def test_it_is_throttled_per_user_across_methods(settings, user_client, other_user, client_for):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "keys_backup": "3/m"}
    assert user_client.put(BACKUP, backup_body(), format="json").status_code == 200
    assert user_client.get(BACKUP).status_code == 200
    assert user_client.get(BACKUP).status_code == 200
    refused = user_client.get(BACKUP)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    assert "blob" not in refused.json()
    assert client_for(other_user).get(BACKUP).status_code == 404  # a counter of their own


def test_account_deletion_deletes_it(user, user_client):
    user_client.put(BACKUP, backup_body(), format="json")
    assert user_client.delete(ME, {"password": DEFAULT_PASSWORD}, format="json").status_code == 204
    assert not KeyBackup.objects.filter(user_id=user.pk).exists()


def test_the_admin_never_shows_it(make_user, user, user_client):
    sent = backup_body(b"private keys, encrypted" * 8)
    user_client.put(BACKUP, sent, format="json")
    staff = make_user(is_staff=True, is_superuser=True, role=User.Role.ADMIN)
    admin = Client()
    admin.force_login(staff)

    index = admin.get("/admin/")
    assert index.status_code == 200
    assert b"backup" not in index.content.lower()
    assert admin.get("/admin/accounts/keybackup/").status_code == 404
    change = admin.get(f"/admin/accounts/user/{user.pk}/change/")
    assert change.status_code == 200
    for form in (sent["blob"].encode(), base64.b64decode(sent["blob"]), b"private keys"):
        assert form not in change.content


def test_no_log_line_carries_it(caplog, user_client):
    caplog.set_level(logging.DEBUG)
    blob = b"secret-key-material-" + os.urandom(16)
    user_client.put(BACKUP, backup_body(blob), format="json")
    user_client.get(BACKUP)
    user_client.put(BACKUP, {"blob": b64(blob), "version": "bad"}, format="json")  # a 400 too
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    for form in (b64(blob), "secret-key-material-"):
        assert form not in logged
