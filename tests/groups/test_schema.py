"""The OpenAPI schema documents every groups route, with its request shape."""

import pytest

pytestmark = pytest.mark.django_db


def test_schema_documents_the_groups_routes(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    expected = {
        "/api/v1/groups": {"get", "post"},
        "/api/v1/groups/{group_id}": {"get", "patch", "delete"},
        "/api/v1/groups/{group_id}/members": {"post"},
        "/api/v1/groups/{group_id}/members/{user_id}": {"patch", "delete"},
        "/api/v1/groups/{group_id}/transfer-ownership": {"post"},
        "/api/v1/groups/{group_id}/messages": {"get", "post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    send = schema["components"]["schemas"]["GroupMessageSendRequest"]["properties"]
    assert send["encrypted_content"]["format"] == "byte"
    assert send["encrypted_session_keys"]["additionalProperties"]["format"] == "byte"
    page = schema["components"]["schemas"]["PaginatedGroupMessageList"]["properties"]
    assert set(page) == {"results", "next", "previous"}
