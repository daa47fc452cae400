"""Redis unreachable, for real (no mocked client): every relay endpoint answers 503 with the JSON
envelope, nothing is written or published, and the relay recovers when Redis is back.

Only the relay store is pointed at the dead Redis; the cache (throttles, token denylist) stays
up, so what is tested is the relay's own handling.
"""

from __future__ import annotations

import uuid

import pytest

from relay.exceptions import RelayUnavailable
from relay.models import Envelope
from relay.selectors import envelopes_pending
from relay.services import envelope_ack, envelope_queue
from tests.notifications.broker import closed_port
from tests.relay.helpers import b64
from tests.relay.redis_server import RedisServer, redis_server_binary

pytestmark = pytest.mark.django_db


def use_redis_at(settings, url: str) -> None:
    settings.RELAY_STORE = "redis"
    settings.RELAY_REDIS_URL = url
    settings.RELAY_REDIS_TIMEOUT_SECONDS = 1.0


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "relay_unavailable"
    assert body["detail"] == "The relay is unavailable right now; try again shortly."


def hit_every_endpoint(client_for, sender, recipient) -> None:
    body = {"recipient_id": str(recipient.pk), "payload": b64(b"lost?")}
    assert_unavailable(client_for(sender).post("/api/v1/relay/queue", body, format="json"))
    assert_unavailable(client_for(recipient).get(f"/api/v1/relay/pending/{recipient.pk}"))
    assert_unavailable(client_for(recipient).delete(f"/api/v1/relay/{uuid.uuid4()}"))


def test_a_closed_port_is_503_everywhere_and_nothing_is_written(
    settings, client_for, user, other_user, capture_events
):
    use_redis_at(settings, f"redis://127.0.0.1:{closed_port()}/0")
    with capture_events() as sent:
        hit_every_endpoint(client_for, user, other_user)
    assert sent == []  # no socket hears of an envelope that was not stored
    assert not Envelope.objects.exists()
    with pytest.raises(RelayUnavailable):  # the gateway's path raises the same error
        envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"x")
    with pytest.raises(RelayUnavailable):
        envelopes_pending(recipient_id=other_user.pk)


@pytest.mark.skipif(not redis_server_binary(), reason="needs a redis-server binary to stop for real")
def test_redis_stopping_and_coming_back(settings, tmp_path, client_for, user, other_user, capture_events):
    server = RedisServer(tmp_path / "redis").start()
    try:
        use_redis_at(settings, server.url)
        kept = envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"before the outage")
        assert envelopes_pending(recipient_id=other_user.pk) == [kept]

        server.stop()
        with capture_events() as sent:
            hit_every_endpoint(client_for, user, other_user)
            with pytest.raises(RelayUnavailable):
                envelope_ack(recipient_id=other_user.pk, envelope_id=kept.id)
        assert sent == []

        # Back on the same port (empty: this Redis keeps nothing on disk). The store's pooled
        # connections were dead; the next calls reconnect without a restart of the app.
        server.start()
        response = client_for(user).post(
            "/api/v1/relay/queue",
            {"recipient_id": str(other_user.pk), "payload": b64(b"after")},
            format="json",
        )
        assert response.status_code == 201, response.content
        [after] = envelopes_pending(recipient_id=other_user.pk)
        assert after.payload == b"after" and str(after.id) == response.json()["id"]
    finally:
        server.stop()


@pytest.mark.skipif(not redis_server_binary(), reason="needs a redis-server binary of its own to fill")
def test_redis_out_of_memory_is_503_and_what_is_queued_stays_readable(
    settings, tmp_path, client_for, user, other_user, capture_events
):
    """A Redis at its maxmemory (noeviction) refuses writes with OOM: queueing is a 503 (nothing
    stored, nothing published), not a 500; reading and acknowledging still work."""
    import redis

    server = RedisServer(tmp_path / "redis").start()
    admin = redis.Redis.from_url(server.url)
    try:
        use_redis_at(settings, server.url)
        kept = envelope_queue(sender_id=user.pk, recipient_id=other_user.pk, payload=b"before it filled up")
        admin.config_set("maxmemory", "1")  # anything stored is over it: every write is refused
        body = {"recipient_id": str(other_user.pk), "payload": b64(b"refused")}
        with capture_events() as sent:
            assert_unavailable(client_for(user).post("/api/v1/relay/queue", body, format="json"))
        assert sent == []
        assert envelopes_pending(recipient_id=other_user.pk) == [kept]
        assert client_for(other_user).delete(f"/api/v1/relay/{kept.id}").status_code == 204

        admin.config_set("maxmemory", "0")
        assert client_for(user).post("/api/v1/relay/queue", body, format="json").status_code == 201
    finally:
        admin.close()
        server.stop()
