"""/healthz, /readyz, the OpenAPI schema and Swagger UI, and the ASGI WebSocket wiring."""

import pytest
from django.db import transaction

from core.stream import current_stream_position, next_stream_position
from messenger.asgi import application
from tests.sockets import Socket


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_configured_dependency(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    checks = response.json()["checks"]
    assert checks["database"] is True
    assert ("redis" in checks) == bool(settings.REDIS_URL)


@pytest.mark.django_db
def test_readyz_names_what_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["redis"] is False
    assert "redis" in body["detail"]


@pytest.mark.django_db
def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    # Assets come from this server (sidecar), not a CDN: the docs render offline.
    assert "cdn.jsdelivr" not in html


@pytest.mark.django_db(transaction=True)
async def test_websocket_through_the_asgi_application_needs_auth_then_answers_ping(make_user):
    from asgiref.sync import sync_to_async
    from rest_framework_simplejwt.tokens import RefreshToken

    user = await sync_to_async(make_user)()
    communicator = Socket(application, "/ws/")
    connected, _ = await communicator.connect()
    assert connected
    access = str(await sync_to_async(lambda: RefreshToken.for_user(user).access_token)())
    await communicator.send_json_to({"type": "auth", "data": {"token": access}})
    assert (await communicator.receive_json_from(timeout=2))["type"] == "hello"
    await communicator.send_json_to({"type": "ping"})
    reply = await communicator.receive_json_from(timeout=2)
    assert reply["type"] == "pong"
    await communicator.send_to(text_data="not json")
    reply = await communicator.receive_json_from(timeout=2)
    assert reply == {
        "type": "error",
        "data": {"code": "invalid_json", "detail": "Frames must be JSON.", "status": 400},
    }
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_websocket_refuses_a_foreign_browser_origin():
    communicator = Socket(application, "/ws/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.django_db(transaction=True)
def test_stream_positions_are_monotonic_and_need_a_transaction():
    with transaction.atomic():
        first = next_stream_position()
    with transaction.atomic():
        second = next_stream_position()
    assert second == first + 1
    assert current_stream_position() == second
    with pytest.raises(RuntimeError, match="inside the writer's transaction"):
        next_stream_position()
