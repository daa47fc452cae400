"""The OpenAPI schema documents the relay routes, their errors and the overflow policy."""

import pytest

pytestmark = pytest.mark.django_db


def test_schema_documents_the_relay_routes(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    queue = paths["/api/v1/relay/queue"]["post"]
    pending = paths["/api/v1/relay/pending/{user_id}"]["get"]
    ack = paths["/api/v1/relay/{message_id}"]["delete"]
    assert "/api/v1/relay/queue/" not in paths  # the slash twin is not documented twice

    assert {"201", "400", "404", "413", "429", "503"} <= set(queue["responses"])
    assert "Retry-After" in queue["responses"]["429"]["headers"]
    assert "Overflow policy" in queue["description"] and "never evicted" in queue["description"]
    assert {"200", "403", "503"} <= set(pending["responses"])
    assert {"204", "404", "503"} <= set(ack["responses"])
    assert {p["name"] for p in pending["parameters"]} >= {"user_id", "limit", "cursor"}

    components = schema["components"]["schemas"]
    request = components["RelayQueueRequest"]["properties"]
    assert request["payload"]["format"] == "byte"
    assert set(components["RelayQueueRequest"]["required"]) == {"recipient_id", "payload"}
    item = components["RelayEnvelope"]["properties"]
    assert set(item) == {"id", "sender_id", "recipient_id", "created_at", "expires_at", "payload"}
    assert set(components["RelayPendingPage"]["properties"]) == {"results", "next", "previous"}
