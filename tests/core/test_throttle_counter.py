"""Counter-based throttles (core.throttling): N requests pass in a window, the N+1th is
a 429 envelope with Retry-After, the window's end lets requests through again; one Redis round
trip per check in the real mode, the same behaviour on the local-memory cache of the embedded one."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from core.throttling import user_throttle_wait

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.urls")]

URL = "/api/v1/test/throttled"


def test_n_pass_the_next_is_429_with_retry_after_and_the_window_end_lets_them_through(api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "test_echo": "3/2s"}
    assert [api_client.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    refused = api_client.get(URL)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert refused["Retry-After"] in {"1", "2"}
    time.sleep(2.1)
    assert [api_client.get(URL).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_refused_requests_do_not_lengthen_the_window(api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "test_echo": "1/3s"}
    assert api_client.get(URL).status_code == 200
    first = int(api_client.get(URL)["Retry-After"])
    time.sleep(1.2)
    for _ in range(5):
        assert api_client.get(URL).status_code == 429
    later = int(api_client.get(URL)["Retry-After"])
    assert 1 <= later < first <= 3


def test_each_client_address_has_its_own_counter(api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "test_echo": "1/m"}
    assert api_client.get(URL, REMOTE_ADDR="10.0.0.1").status_code == 200
    assert api_client.get(URL, REMOTE_ADDR="10.0.0.1").status_code == 429
    assert api_client.get(URL, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_a_socket_frame_shares_the_rest_counter_and_gets_the_seconds_left(client_for, user, settings):
    """`user_throttle_wait` (the WebSocket frames' path) counts on the endpoint's own key."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "ws_ticket": "2/m"}
    client = client_for(user)
    assert client.post("/api/v1/auth/ws-ticket").status_code == 200
    assert user_throttle_wait(scope="ws_ticket", user_id=user.pk) is None
    wait = user_throttle_wait(scope="ws_ticket", user_id=user.pk)
    assert wait is not None and 0 < wait <= 60
    refused = client.post("/api/v1/auth/ws-ticket")
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60


def test_the_counter_is_one_integer_in_the_shared_cache(api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "test_echo": "10/m"}
    for _ in range(4):
        api_client.get(URL)
    assert cache.get("throttle:test_echo:127.0.0.1") == 4


@pytest.mark.skipif(not django_settings.REDIS_URL, reason="the Redis round trips of the real mode")
def test_one_redis_round_trip_per_check(api_client, settings, monkeypatch):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "test_echo": "1/m"}
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    commands: list[str] = []
    real = type(client).execute_command

    def counting(self, *args, **options):  # type: ignore[no-untyped-def]
        commands.append(str(args[0]))
        return real(self, *args, **options)

    monkeypatch.setattr(type(client), "execute_command", counting)
    assert api_client.get(URL).status_code == 200
    assert api_client.get(URL).status_code == 429
    # Two checks, one EVALSHA each (an EVAL the first time the server has not seen the script).
    assert [name for name in commands if name != "EVAL"] == ["EVALSHA", "EVALSHA"]
