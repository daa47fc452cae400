"""The OpenAPI schema documents every status an operation can answer, each error with the one
envelope, and the input rules a schema can state (found by schemathesis: each of these was an
undocumented status or a schema-valid request the server refused)."""

from __future__ import annotations

import base64
import fnmatch
import re
import uuid

import pytest

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/ErrorEnvelope"


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_error_response_is_the_envelope(schema):
    for path, method, operation in operations(schema):
        for code, response in operation["responses"].items():
            if code[0] in "45":
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (
                    method,
                    path,
                    code,
                )
    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["properties"]) == {"detail", "code", "errors"}
    assert set(envelope["required"]) == {"detail", "code"}


def test_authenticated_operations_document_401_and_object_routes_404(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        if any(operation.get("security") or []):  # it reads a Bearer token: a bad one is a 401
            assert "401" in responses, (method, path)
            assert "503" in responses, (method, path)  # and the denylist fails closed
        if "{" in path:
            assert "404" in responses, (method, path)


def test_throttled_operations_document_429_with_retry_after(schema):
    for path, method in [
        ("/api/v1/relay/queue", "post"),
        ("/api/v1/messages/send", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/keys/{user_id}", "get"),
    ]:
        response = schema["paths"][path][method]["responses"]["429"]
        assert response["headers"]["Retry-After"]["schema"] == {"type": "integer"}, path


def test_request_ciphertext_fields_state_that_empty_is_refused(schema):
    components = schema["components"]["schemas"]
    assert components["RelayQueueRequest"]["properties"]["payload"] == {
        **components["RelayQueueRequest"]["properties"]["payload"],
        "type": "string",
        "format": "byte",
        "minLength": 1,
    }
    assert components["MessageSendRequest"]["properties"]["encrypted_content"]["minLength"] == 1
    # Responses carry no input rule.
    assert "minLength" not in components["RelayEnvelope"]["properties"]["payload"]


def test_patch_bodies_keep_their_required_fields(schema):
    """The PATCH views validate their whole serializer: `{}` is a 400, so the schema says so."""
    assert not [name for name in schema["components"]["schemas"] if name.startswith("Patched")]
    contact = schema["paths"]["/api/v1/contacts/{contact_id}"]["patch"]["requestBody"]
    ref = contact["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert schema["components"]["schemas"][ref]["required"] == ["status"]


def test_sync_parameters_state_what_the_view_accepts(schema, user_client):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/sync"]["get"]["parameters"]}
    assert parameters["limit"]["minimum"] == 1 and parameters["limit"]["maximum"] >= 1
    assert user_client.get("/api/v1/sync", {"limit": 0}).status_code == 400
    # An empty `since` is a fresh token (as no `since`), so the schema does not forbid it.
    assert parameters["since"].get("minLength", 0) == 0
    assert user_client.get("/api/v1/sync", {"since": ""}).status_code == 200


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def _call(client, method: str, path: str):
    if method in {"post", "put", "patch", "delete"}:
        return getattr(client, method)(_concrete(path), {}, format="json")
    return getattr(client, method)(_concrete(path))


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "bearer"])
def test_every_operation_answers_a_documented_status_with_the_envelope(
    schema, api_client, user_client, authenticated
):
    """Each operation, called with unknown ids and an empty body, answers a status its schema
    documents, and an error is the JSON envelope: a small schemathesis run inside the suite."""
    client = user_client if authenticated else api_client
    for path, method, operation in operations(schema):
        if (method, path) == ("delete", "/api/v1/auth/me"):
            continue  # {} is a 400 anyway; skipped so no password check counts against the user
        response = _call(client, method, path)
        assert str(response.status_code) in operation["responses"], (method, path, response.status_code)
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body["detail"], str) and isinstance(body["code"], str), (method, path)


def test_the_403s_and_404s_of_messages_are_documented(schema, client_for, make_user):
    """What schemathesis found answered but undocumented: a sender marking read (403), a send to
    an unknown recipient (404), `scope=everyone` by the recipient (403)."""
    sender, recipient = make_user(), make_user()
    sent = client_for(sender).post(
        "/api/v1/messages/send",
        {
            "recipient_id": str(recipient.pk),
            "encrypted_content": "Y3Q=",
            "encrypted_session_key": "aw==",
            "crypto_version": "1",
            "encryption_algorithm": "x3dh",
        },
        format="json",
    )
    assert sent.status_code == 201, sent.content
    message_id = sent.json()["id"]
    paths = schema["paths"]
    cases = [
        (
            client_for(sender).put(f"/api/v1/messages/{message_id}/read"),
            paths["/api/v1/messages/{message_id}/read"]["put"],
        ),
        (
            client_for(recipient).delete(f"/api/v1/messages/{message_id}?scope=everyone"),
            paths["/api/v1/messages/{message_id}"]["delete"],
        ),
        (
            client_for(sender).post(
                "/api/v1/messages/send", {**sent.json(), "recipient_id": str(uuid.uuid4())}, format="json"
            ),
            paths["/api/v1/messages/send"]["post"],
        ),
    ]
    for response, operation in cases:
        assert response.status_code in {403, 404}, response.content
        assert str(response.status_code) in operation["responses"], response.json()


def test_media_bytes_are_documented_with_the_type_they_are_served_as(schema, user_client, tmp_path, settings):
    """Local storage serves the bytes with their sniffed type (a PNG as image/png); the schema
    said application/octet-stream only, so a client validating content types refused them."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    thumbnail = SimpleUploadedFile("t.bin", png)
    media = user_client.post(
        "/api/v1/media/upload", {"file": SimpleUploadedFile("p.png", png), "thumbnail": thumbnail}
    ).json()
    for route in ("download", "thumbnail"):
        response = user_client.get(f"/api/v1/media/{media['id']}/{route}")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        documented = schema["paths"][f"/api/v1/media/{{media_id}}/{route}"]["get"]["responses"]["200"][
            "content"
        ]
        assert any(fnmatch.fnmatch(response["Content-Type"], pattern) for pattern in documented)
