"""The prekey directory: PUT /keys, GET /keys/{userId} (claims one one-time prekey), GET /keys/count."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from accounts.models import OneTimePrekey, User
from tests.accounts.helpers import COUNT, KEYS, bundle, claim_path, key

pytestmark = pytest.mark.django_db


def test_upload_then_claim_returns_the_bundle(user, user_client, other_user, client_for):
    sent = bundle(range(3))
    response = user_client.put(KEYS, sent, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"one_time_prekeys": 3}

    claimed = client_for(other_user).get(claim_path(user))
    assert claimed.status_code == 200
    body = claimed.json()
    assert body["user_id"] == str(user.pk)
    assert body["identity_key"] == sent["identity_key"]
    assert body["signed_prekey"] == sent["signed_prekey"]
    assert body["one_time_prekey"] == sent["one_time_prekeys"][0]
    assert user_client.get(COUNT).json() == {"one_time_prekeys": 2}


def test_claims_hand_out_each_prekey_once_then_null(user, user_client, other_user, client_for, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "keys_claim": "100/h"}
    user_client.put(KEYS, bundle(range(40)), format="json")
    claimer = client_for(other_user)
    seen = [claimer.get(claim_path(user)).json()["one_time_prekey"] for _ in range(41)]
    ids = [item["key_id"] for item in seen[:40]]
    assert sorted(ids) == list(range(40))
    assert seen[40] is None
    assert not OneTimePrekey.objects.filter(user=user).exists()
    # the bundle itself stays usable without a one-time prekey
    assert claimer.get(claim_path(user)).json()["signed_prekey"]["key_id"] == 1


def test_upload_appends_and_skips_known_key_ids(user, user_client):
    user_client.put(KEYS, bundle(range(5)), format="json")
    more = {"one_time_prekeys": [{"key_id": i, "public_key": key(32)} for i in range(3, 8)]}
    response = user_client.put(KEYS, more, format="json")
    assert response.json() == {"one_time_prekeys": 8}
    assert sorted(OneTimePrekey.objects.filter(user=user).values_list("key_id", flat=True)) == list(range(8))


def test_signed_prekey_is_replaced(user, user_client, other_user, client_for):
    first = bundle(range(1))
    user_client.put(KEYS, first, format="json")
    new_spk = {"key_id": 2, "public_key": key(32), "signature": key(64)}
    assert user_client.put(KEYS, {"signed_prekey": new_spk}, format="json").status_code == 200
    body = client_for(other_user).get(claim_path(user)).json()
    assert body["signed_prekey"] == new_spk
    assert body["identity_key"] == first["identity_key"]


def test_first_upload_needs_identity_and_signed_prekey(user_client):
    response = user_client.put(
        KEYS, {"one_time_prekeys": [{"key_id": 1, "public_key": key()}]}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"identity_key", "signed_prekey"}
    assert not OneTimePrekey.objects.exists()


def test_new_identity_key_drops_old_prekeys_and_needs_a_signed_prekey(user, user_client):
    user_client.put(KEYS, bundle(range(5)), format="json")
    alone = user_client.put(KEYS, {"identity_key": key(32)}, format="json")
    assert alone.status_code == 400
    assert "signed_prekey" in alone.json()["errors"]
    assert user_client.get(COUNT).json() == {"one_time_prekeys": 5}
    renewed = user_client.put(KEYS, bundle(range(100, 102)), format="json")
    assert renewed.json() == {"one_time_prekeys": 2}


def test_one_time_prekey_cap(user_client, settings):
    settings.ACCOUNTS_MAX_ONE_TIME_PREKEYS = 10
    assert user_client.put(KEYS, bundle(range(8)), format="json").status_code == 200
    over = user_client.put(
        KEYS, {"one_time_prekeys": [{"key_id": i, "public_key": key()} for i in range(8, 11)]}, format="json"
    )
    assert over.status_code == 400
    assert over.json()["code"] == "prekey_limit"
    assert user_client.get(COUNT).json() == {"one_time_prekeys": 8}
    too_many_at_once = user_client.put(KEYS, bundle(range(200, 211)), format="json")
    assert too_many_at_once.status_code == 400
    assert "one_time_prekeys" in too_many_at_once.json()["errors"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(identity_key="not base64!"), "identity_key"),
        (lambda b: b.update(identity_key=key(31)), "identity_key"),
        (lambda b: b["signed_prekey"].update(signature=key(32)), "signed_prekey.signature"),
        (lambda b: b["signed_prekey"].update(key_id=-1), "signed_prekey.key_id"),
        (lambda b: b["signed_prekey"].pop("signature"), "signed_prekey.signature"),
        (lambda b: b["one_time_prekeys"].append({"key_id": 0, "public_key": key()}), "one_time_prekeys"),
        (
            lambda b: b["one_time_prekeys"].append({"key_id": 9, "public_key": "AAAA"}),
            "one_time_prekeys.2.public_key",
        ),
    ],
)
def test_upload_checks_the_shape(user_client, mutate, field):
    body = bundle(range(2))
    mutate(body)
    response = user_client.put(KEYS, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not OneTimePrekey.objects.exists()


def test_oversized_key_is_413(user_client):
    body = bundle()
    body["identity_key"] = key(4096)
    assert user_client.put(KEYS, body, format="json").status_code == 413


def test_empty_upload_is_400(user_client):
    assert user_client.put(KEYS, {}, format="json").status_code == 400


def test_claim_unknown_inactive_or_keyless_user_is_404(user_client, make_user):
    keyless = make_user()
    banned = make_user()
    from tests.conftest import bearer_client

    bearer_client(banned).put(KEYS, bundle(range(2)), format="json")
    User.objects.filter(pk=banned.pk).update(is_active=False)
    for target in (uuid.uuid4(), keyless.pk, banned.pk):
        response = user_client.get(f"{KEYS}/{target}")
        assert response.status_code == 404, target
    assert OneTimePrekey.objects.filter(user=banned).count() == 2  # nothing claimed


def test_claims_are_throttled_per_caller_and_target(user, user_client, make_user, client_for, settings):
    assert settings.THROTTLE_RATES["keys_claim"] == "30/h"
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "keys_claim": "2/h"}
    user_client.put(KEYS, bundle(range(10)), format="json")
    drainer, other = client_for(make_user()), client_for(make_user())
    assert [drainer.get(claim_path(user)).status_code for _ in range(2)] == [200, 200]
    refused = drainer.get(claim_path(user))
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert user_client.get(COUNT).json() == {"one_time_prekeys": 8}  # the refused claim took nothing
    assert other.get(claim_path(user)).status_code == 200  # someone else's claims are their own


def test_services_refuse_a_user_banned_since_authentication(user):
    """A ban that lands between the access check and the write is a 404, not a server error."""
    from accounts.exceptions import UserNotFound
    from accounts.services import keys_upload, user_update_profile

    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(UserNotFound):
        keys_upload(user_id=user.pk, identity_key=os.urandom(32))
    with pytest.raises(UserNotFound):
        user_update_profile(user_id=user.pk, data={"bio": "x"})


def test_keys_need_authentication(api_client, user):
    assert api_client.put(KEYS, bundle(), format="json").status_code == 401
    assert api_client.get(COUNT).status_code == 401
    assert api_client.get(claim_path(user)).status_code == 401


def test_count_is_per_caller(user_client, other_user, client_for):
    user_client.put(KEYS, bundle(range(4)), format="json")
    assert user_client.get(COUNT).json() == {"one_time_prekeys": 4}
    assert client_for(other_user).get(COUNT).json() == {"one_time_prekeys": 0}


ON_POSTGRESQL = pytest.mark.skipif(
    settings.DATABASE_VENDOR != "postgresql",
    reason="embedded SQLite mode: one writer at a time, so there is no concurrent claim to race; "
    "under .ci/run (DATABASE_URL set) this runs on PostgreSQL",
)
CLAIMERS, PREKEYS = 60, 40


@contextmanager
def pool_of_at_least(size: int) -> Iterator[None]:
    """Django's psycopg pool is shared by every thread (DATABASE_POOL_MAX, 10 by default): grow it
    so that each claimer holds its own connection at the same moment, then shrink it back."""
    pool = connection.pool  # type: ignore[attr-defined]  # the PostgreSQL backend's (psycopg's pool)
    if pool is None:  # DATABASE_POOL=0: each thread opens its own connection anyway
        yield
        return
    min_size, max_size = pool.min_size, pool.max_size
    pool.resize(min_size=min_size, max_size=max(size, max_size))
    try:
        yield
    finally:
        pool.resize(min_size=min_size, max_size=max_size)


@pytest.mark.django_db(transaction=True)
@ON_POSTGRESQL
def test_sixty_concurrent_claims_of_forty_prekeys_on_postgresql(make_user, settings):
    """60 real threads, each holding its own PostgreSQL connection (60 distinct backends), wait at
    a barrier and then claim through the REST endpoint at once: 40 distinct prekeys and 20 nulls,
    nothing handed out twice, nothing left."""
    from tests.conftest import bearer_client

    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "keys_claim": "1000/h"}
    owner, claimer = make_user(), make_user()
    assert bearer_client(owner).put(KEYS, bundle(range(PREKEYS)), format="json").status_code == 200
    path = claim_path(owner)
    access = bearer_client(claimer)._credentials["HTTP_AUTHORIZATION"]

    start = threading.Barrier(CLAIMERS)
    results: list = []
    backends: set[int] = set()
    errors: list = []
    lock = threading.Lock()

    def claim() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=access)
        try:
            with connection.cursor() as cursor:  # this thread's own connection, open before the race
                cursor.execute("SELECT pg_backend_pid()")
                backend = cursor.fetchone()[0]
            start.wait(timeout=60)
            response = client.get(path)
            with lock:
                backends.add(backend)
                if response.status_code == 200:
                    results.append(response.json()["one_time_prekey"])
                else:
                    errors.append((response.status_code, response.content))
        except Exception as exc:  # a broken barrier or a refused connection: fail with it
            with lock:
                errors.append(repr(exc))
        finally:
            connections.close_all()  # give this thread's connection back to the pool

    with pool_of_at_least(CLAIMERS + 2):
        threads = [threading.Thread(target=claim) for _ in range(CLAIMERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors[:3]
    assert len(backends) == CLAIMERS  # 60 connections at once, not 10 taking turns
    assert len(results) == CLAIMERS
    handed_out = [item["key_id"] for item in results if item is not None]
    assert sorted(handed_out) == list(range(PREKEYS))  # 40 distinct: no key twice
    assert results.count(None) == CLAIMERS - PREKEYS
    assert not OneTimePrekey.objects.filter(user=owner).exists()


@pytest.mark.django_db(transaction=True)
@ON_POSTGRESQL
def test_a_claim_skips_the_prekey_another_claim_holds_instead_of_waiting(make_user):
    """Deterministic half of the race above: while another transaction holds the oldest prekey's
    row lock, a claim takes the next one at once (SKIP LOCKED). A claim that waited for the lock
    instead would get the held key once the holder gives up after 10 s, and fail here."""
    from accounts.services import prekey_bundle_claim
    from tests.conftest import bearer_client

    owner = make_user()
    bearer_client(owner).put(KEYS, bundle(range(3)), format="json")
    held, release = threading.Event(), threading.Event()

    def hold_oldest() -> None:
        try:
            with transaction.atomic():
                oldest = OneTimePrekey.objects.select_for_update().filter(user=owner).order_by("id").first()
                assert oldest is not None and oldest.key_id == 0
                held.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_oldest)
    holder.start()
    try:
        assert held.wait(timeout=30)
        claimed = prekey_bundle_claim(user_id=owner.pk)
    finally:
        release.set()
        holder.join(timeout=30)
    assert claimed.one_time_prekey["key_id"] == 1
    # The holder let go without deleting: key 0 is still there for the next claimer.
    assert prekey_bundle_claim(user_id=owner.pk).one_time_prekey["key_id"] == 0
    assert list(OneTimePrekey.objects.filter(user=owner).values_list("key_id", flat=True)) == [2]
