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


def test_every_limit_parameter_refuses_what_its_schema_forbids(schema, user_client):
    """`?limit=` says `minimum: 1` wherever it appears, and the server refuses 0, text and an
    empty value with a 400 on `limit` (it used to answer them with the default page)."""
    lists = {"/api/v1/users/search": {"q": "ab"}}
    checked = 0
    for path, _method, operation in operations(schema):
        limit = next((p for p in operation.get("parameters", []) if p["name"] == "limit"), None)
        if limit is None:
            continue
        assert limit["schema"]["type"] == "integer" and limit["schema"]["minimum"] == 1, path
        if "{" in path:
            continue  # the per-app tests call these with real objects
        for bad in ("0", "abc", "", "null"):
            response = user_client.get(path, {**lists.get(path, {}), "limit": bad})
            assert response.status_code == 400, (path, bad)
            assert "limit" in response.json()["errors"], (path, bad)
        assert user_client.get(path, {**lists.get(path, {}), "limit": "1"}).status_code == 200, path
        checked += 1
    assert checked >= 4


def matches(pattern: str, value: str) -> bool:
    """A JSON schema `pattern` as ECMA reads it: `$` is the end of the text (Python's `$` also
    matches before a final newline)."""
    return re.search(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern, value) is not None


def _component(schema, path, method):
    body = schema["paths"][path][method]["requestBody"]["content"]
    media = body.get("application/json") or next(iter(body.values()))
    return schema["components"]["schemas"][media["schema"]["$ref"].rsplit("/", 1)[-1]]


def test_string_fields_refuse_what_is_not_a_string(schema, client_for, make_user):
    """The schema says `type: string`; DRF's CharField stored an integer `description` or
    `public_key` as "5". Each is now a 400 on the field, and nothing is stored."""
    user, other = make_user(), make_user()
    client = client_for(user)
    description = _component(schema, "/api/v1/groups", "post")["properties"]["description"]
    assert {branch["type"] for branch in description["oneOf"]} == {"string"}

    response = client.post("/api/v1/groups", {"name": "g", "description": 5}, format="json")
    assert response.status_code == 400 and response.json()["errors"] == {"description": ["Must be a string."]}
    assert client.get("/api/v1/groups").json()["results"] == []

    response = client.patch(f"/api/v1/users/{user.pk}", {"public_key": 12345}, format="json")
    assert response.status_code == 400 and "public_key" in response.json()["errors"]
    assert client_for(other).get(f"/api/v1/users/{user.pk}").json()["public_key"] == ""

    for body in ({"name": 7}, {"name": True}, {"name": ["g"]}):
        assert client.post("/api/v1/groups", body, format="json").status_code == 400, body
    sent = client.post(
        "/api/v1/messages/send",
        {
            "recipient_id": str(other.pk),
            "encrypted_content": "Y3Q=",
            "encrypted_session_key": "aw==",
            "crypto_version": 1,
            "encryption_algorithm": "x3dh",
        },
        format="json",
    )
    assert sent.status_code == 400 and "crypto_version" in sent.json()["errors"]
    assert (
        client.post(
            "/api/v1/auth/register",
            {"email": "a@example.com", "username": 12345, "password": "x"},
            format="json",
        ).status_code
        == 400
    )


def test_the_password_rules_a_schema_can_state_are_in_it(schema, api_client, settings):
    """A 7-character or all-digit password was schema-valid and refused; the schema now states
    the minimum length (MinimumLengthValidator's) and "not all digits"."""
    password = _component(schema, "/api/v1/auth/register", "post")["properties"]["password"]
    minimum = next(
        v.get("OPTIONS", {}).get("min_length", 8)
        for v in settings.AUTH_PASSWORD_VALIDATORS
        if v["NAME"].endswith("MinimumLengthValidator")
    )
    assert password["minLength"] == minimum and password["maxLength"] == 128
    assert re.search(password["pattern"], "12345678") is None and re.search(password["pattern"], "1234567a")

    def register(name, password):
        return api_client.post(
            "/api/v1/auth/register",
            {"email": f"{name}@example.com", "username": name, "password": password},
            format="json",
        )

    assert register("shorty", "Zq-7ab!").status_code == 400  # 7: below minLength
    assert register("digits", "8264917350").status_code == 400  # fails the pattern
    assert register("fine_one", "Zq-7ab!x").status_code == 201  # 8, not all digits, not common


def test_relay_ttl_seconds_states_the_range_the_server_accepts(
    schema, client, client_for, make_user, settings
):
    ttl = _component(schema, "/api/v1/relay/queue", "post")["properties"]["ttl_seconds"]
    assert ttl["minimum"] == 1 and ttl["maximum"] == settings.RELAY_MAX_TTL_SECONDS
    settings.RELAY_MAX_TTL_SECONDS = 60
    fresh = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert _component(fresh, "/api/v1/relay/queue", "post")["properties"]["ttl_seconds"]["maximum"] == 60

    sender, recipient = make_user(), make_user()
    for value, status in ((0, 400), (61, 400), (1, 201), (60, 201)):
        response = client_for(sender).post(
            "/api/v1/relay/queue",
            {"recipient_id": str(recipient.pk), "payload": "Y3Q=", "ttl_seconds": value},
            format="json",
        )
        assert response.status_code == status, (value, response.content)


def test_a_group_patch_states_that_it_needs_a_field(schema, client_for, make_user):
    """`{}` is refused (`empty_update`): the schema says `minProperties: 1`."""
    assert _component(schema, "/api/v1/groups/{group_id}", "patch")["minProperties"] == 1
    owner = make_user()
    client = client_for(owner)
    group = client.post("/api/v1/groups", {"name": "g"}, format="json").json()
    assert client.patch(f"/api/v1/groups/{group['id']}", {}, format="json").status_code == 400
    assert (
        client.patch(f"/api/v1/groups/{group['id']}", {"description": ""}, format="json").status_code == 200
    )


def test_presence_user_ids_pattern_and_server_agree(schema, client_for, make_user):
    """A blank `user_ids` was schema-valid (a plain string) and refused: the schema now carries
    the pattern the server applies, so each value below is valid to both or to neither."""
    user = make_user()
    parameter = schema["paths"]["/api/v1/presence"]["get"]["parameters"][0]
    pattern = parameter["schema"]["pattern"]
    one, two = uuid.uuid4(), uuid.uuid4()
    values = [
        "",
        " ",
        ",",
        ",,",
        f"{one}",
        f" {one} , {two} ",
        f"{one},",
        f",{one}",
        f"{one},,{two}",
        f"{one}\t",
        f"\n{one}",
        str(one).upper(),
        one.hex,
        f"{{{one}}}",
        "nope",
        ",".join(str(uuid.uuid4()) for _ in range(100)),
        ",".join(str(uuid.uuid4()) for _ in range(101)),
    ]
    for value in values:
        schema_valid = matches(pattern, value)
        response = client_for(user).get("/api/v1/presence", {"user_ids": value})
        assert response.status_code == (200 if schema_valid else 400), (value, response.content)


def test_ids_and_integers_refuse_other_json_types(client_for, make_user):
    """DRF's UUIDField turns `0` or `false` into 00000000-..., its IntegerField takes "60" and 60.0;
    the schema says `format: uuid` and `type: integer`, so each is a 400 now."""
    sender, recipient = make_user(), make_user()
    client = client_for(sender)
    base = {
        "recipient_id": str(recipient.pk),
        "encrypted_content": "Y3Q=",
        "encrypted_session_key": "aw==",
        "crypto_version": "1",
        "encryption_algorithm": "x3dh",
    }
    for value in (0, False, 7):
        response = client.post("/api/v1/messages/send", {**base, "client_message_id": value}, format="json")
        assert response.status_code == 400 and "client_message_id" in response.json()["errors"], value
    assert client.post("/api/v1/messages/send", {**base, "recipient_id": 5}, format="json").status_code == 400
    assert client_for(recipient).get(f"/api/v1/messages/conversation/{sender.pk}").json()["results"] == []

    for ttl in ("60", 60.0, "60.0", True):
        response = client.post(
            "/api/v1/relay/queue",
            {"recipient_id": str(recipient.pk), "payload": "Y3Q=", "ttl_seconds": ttl},
            format="json",
        )
        assert response.status_code == 400 and "ttl_seconds" in response.json()["errors"], ttl
    # In a query string an integer is text: digits are one, anything else is not.
    assert client.get("/api/v1/sync", {"since": "s0", "limit": "5"}).status_code == 200
    for limit in ("5.0", "", " 5"):
        assert client.get("/api/v1/sync", {"since": "s0", "limit": limit}).status_code == 400, limit


def test_request_strings_state_that_nul_is_refused(schema, user_client):
    """DRF refuses a NUL character in every CharField; a string without its own pattern says so."""
    q = next(p for p in schema["paths"]["/api/v1/users/search"]["get"]["parameters"] if p["name"] == "q")
    assert re.search(q["schema"]["pattern"], "ab\x00") is None and re.search(q["schema"]["pattern"], "ab")
    assert user_client.get("/api/v1/users/search", {"q": "ab\x00"}).status_code == 400
    name = _component(schema, "/api/v1/groups", "post")["properties"]["name"]
    assert re.search(name["pattern"], "g\x00") is None


def test_patterns_and_server_agree(schema, client_for, make_user):
    """Each pattern the schema states is the rule the server applies: a value matching it is
    accepted, one that does not is refused (sync tokens, avatar URLs)."""
    user = make_user()
    client = client_for(user)
    since = next(p for p in schema["paths"]["/api/v1/sync"]["get"]["parameters"] if p["name"] == "since")
    since_pattern = since["schema"]["oneOf"][0]["pattern"]
    # (A well-formed token ahead of the stream is refused too: a rule of state, not of form.)
    for value in ("s0", "s00", "s" + "0" * 18, "s" + "0" * 19, "S0", " s0", "s0 ", "s\u0660", "s-0", "x"):
        accepted = client.get("/api/v1/sync", {"since": value}).status_code == 200
        assert accepted == matches(since_pattern, value), value

    avatar = _component(schema, "/api/v1/users/{user_id}", "patch")["properties"]["avatar_url"]
    avatar_pattern = avatar["oneOf"][0]["pattern"]
    for value in (
        "https://cdn.example.com/a.png",
        "http://localhost:8000/x?y=1#z",
        "HTTPS://EXAMPLE.COM",
        "https://" + "a" * 70 + ".example.com/a.png",  # a label over 63: Django's URLValidator refused it
        "https://ex ample.com",
        "https://example.com/a b",
        "ftp://example.com/a.png",
        "javascript:alert(1)",
        "https://",
        "https://example.com\n",
    ):
        response = client.patch(f"/api/v1/users/{user.pk}", {"avatar_url": value}, format="json")
        assert (response.status_code == 200) == matches(avatar_pattern, value), (
            value,
            response.content,
        )


def test_bodies_that_must_name_a_field_say_so(schema, user_client):
    """`{}` (or no body) is a 400 for a group PATCH and a key upload: the schema says
    minProperties / anyOf, and that the body is required."""
    patch = schema["paths"]["/api/v1/groups/{group_id}"]["patch"]
    assert patch["requestBody"]["required"] is True
    keys = _component(schema, "/api/v1/keys", "put")
    assert schema["paths"]["/api/v1/keys"]["put"]["requestBody"]["required"] is True
    assert {"required": ["identity_key"]} in keys["anyOf"]
    for body in ({}, {"one_time_prekeys": []}):
        assert user_client.put("/api/v1/keys", body, format="json").status_code == 400, body
    key = base64.b64encode(bytes(32)).decode()
    identity = keys["properties"]["identity_key"]["pattern"]
    assert re.search(identity, key) and not re.search(identity, base64.b64encode(bytes(31)).decode())
    first = {
        "identity_key": key,
        "signed_prekey": {"key_id": 1, "public_key": key, "signature": base64.b64encode(bytes(64)).decode()},
    }
    assert user_client.put("/api/v1/keys", first, format="json").status_code == 200
    assert user_client.put("/api/v1/keys", {"identity_key": key}, format="json").status_code == 200


def test_user_search_q_pattern_and_server_agree(schema, user_client):
    """`q` was "at least 2 characters after trimming", and DRF trims every Unicode space: "Ç\\x0c"
    (2 characters to the schema) was refused as 1. One pattern now decides for both."""
    q = next(p for p in schema["paths"]["/api/v1/users/search"]["get"]["parameters"] if p["name"] == "q")
    for value in ("ab", " ab ", "Ç\x0c", "a b", "  a", "a  ", "a", "   ", "a\x00b", "\tab"):
        schema_valid = matches(q["schema"]["pattern"], value) and len(value) >= q["schema"]["minLength"]
        response = user_client.get("/api/v1/users/search", {"q": value})
        assert (response.status_code == 200) == schema_valid, (value, response.content)


def test_an_empty_search_cursor_is_refused_as_the_schema_says(schema, user_client):
    """`cursor` says minLength 1; an empty `?cursor=` was taken as "no cursor" (a 200)."""
    cursor = next(
        p for p in schema["paths"]["/api/v1/users/search"]["get"]["parameters"] if p["name"] == "cursor"
    )
    assert cursor["schema"]["minLength"] == 1
    response = user_client.get("/api/v1/users/search", {"q": "ab", "cursor": ""})
    assert response.status_code == 400 and "cursor" in response.json()["errors"]
    assert user_client.get("/api/v1/users/search", {"q": "ab"}).status_code == 200
