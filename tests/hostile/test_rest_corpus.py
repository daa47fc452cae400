"""A hostile client against every REST route: nothing it sends may be a 500.

The routes, their methods and their parameters come from the OpenAPI schema the server serves, so
a new route or parameter is in the corpus the day it is added. Each request's answer must be a
status below 500 and, when it is an error, the API's envelope (`{"detail", "code"}`, JSON).

- nested JSON (deep enough to blow the decoder's recursion, and deep but parseable) to every
  route that takes a body, signed in and not;
- every numeric and unicode-digit edge, NUL bytes, broken UTF-8, very long and repeated values in
  every query parameter of every GET route;
- the same garbage in every path parameter;
- malformed Authorization headers and JWTs of every shape (forged with the server's own key, so
  they get past the signature to the claims), as a Bearer token and in the refresh/logout bodies.

- a declared Content-Length past the limit, and a chunked body that never ends, to every route
  that takes a body, through the ASGI and WSGI entry points themselves (in-process: the same
  code real servers run; tests/hostile/test_body_limits.py runs uvicorn, daphne and gunicorn).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import re
import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db

DEEP_JSON = "[" * 60000 + "]" * 60000  # RecursionError in the decoder (issue 14)
DEEP_OBJECT = '{"a":' * 60000 + "1" + "}" * 60000
PARSEABLE_DEEP_JSON = "[" * 500 + "]" * 500  # under the recursion limit, over any sane depth
BODY_METHODS = ("post", "put", "patch", "delete")

# Values for query parameters, as they go on the wire (already percent-encoded where needed).
NUMERIC_EDGES = [
    "%C2%B2",  # "²": str.isdigit() says yes, int() says no
    "%D9%A1%D9%A2",  # "١٢" Arabic-Indic digits: int() reads them as 12
    "%EF%BC%91",  # U+FF11, a fullwidth one
    "-0",
    "%2B1",  # "+1"
    "1e3",
    "%201",  # " 1"
    "1_000",
    "1.5",
    "0x10",
    "-1",
    "0",
    str(10**400),
    "9" * 5000,  # past Python's int() digit limit (4300)
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "",
]
TEXT_EDGES = [
    "%00",
    "a%00b",
    "%ED%A0%80",  # a lone surrogate, as UTF-8 bytes
    "%FF%FE",  # not UTF-8 at all
    "%F0%9F%92%A9",
    "%E2%80%AE",  # right-to-left override
    "x" * 10000,
    "%25",
    "%",
    "..%2F..%2F",
    "'%3B--",
]
QUERY_VALUES = NUMERIC_EDGES + TEXT_EDGES + ["s" + value for value in NUMERIC_EDGES + TEXT_EDGES[:4]]

PATH_VALUES = [
    "%C2%B2",
    "%EF%BC%91",
    "%00",
    "%ED%A0%80",
    "%FF",
    "x" * 3000,
    str(10**400),
    "-0",
    "00000000-0000-0000-0000-00000000000%EF%BC%91",  # a UUID with a fullwidth last digit
    "00000000-0000-0000-0000-000000000000%00",
]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the schema's template, e.g. /api/v1/groups/{group_id}
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    json_body: bool

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _operations() -> list[Operation]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            parameters = operation.get("parameters", [])
            operations.append(
                Operation(
                    method=method,
                    path=path,
                    path_params=tuple(p["name"] for p in parameters if p["in"] == "path"),
                    query_params=tuple(p["name"] for p in parameters if p["in"] == "query"),
                    json_body="application/json" in operation.get("requestBody", {}).get("content", {}),
                )
            )
    return operations


OPERATIONS = _operations()


def test_the_corpus_covers_the_api():
    """A broken schema generator must not turn the corpus into zero requests."""
    assert len(OPERATIONS) > 40
    assert any(op.path.endswith("/sync") and "since" in op.query_params for op in OPERATIONS)
    assert sum(op.json_body for op in OPERATIONS) > 20


def assert_clean(response, what: str) -> dict | None:
    """Below 500, and an error is the envelope: JSON with a string `detail` and `code`."""
    assert response.status_code < 500, f"{what}: {response.status_code} {response.content[:300]!r}"
    if response.status_code < 400:
        return None
    assert response["Content-Type"].startswith("application/json"), f"{what}: {response['Content-Type']}"
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"], f"{what}: {body}"
    assert isinstance(body.get("code"), str) and re.fullmatch(r"[a-z_]+", body["code"]), f"{what}: {body}"
    return body


OWN_USER_ID_PATHS = ("/api/v1/relay/pending/", "/api/v1/users/{user_id}")


@dataclass
class World:
    """Two accepted contacts with a group and a message between them: real ids for path params."""

    me: object
    other: object
    client: APIClient
    ids: dict[str, str]

    def path(self, op: Operation, **override: str) -> str:
        path = op.path
        for name in op.path_params:
            value = override.get(name)
            if value is None:
                value = self.ids.get(name, str(uuid.uuid4()))
                if name == "user_id" and op.path.startswith(OWN_USER_ID_PATHS):
                    value = str(self.me.pk)  # the caller's own queue or profile, else a 403
            path = path.replace("{" + name + "}", value)
        return path


@pytest.fixture
def world(make_user, client_for):
    me, other = make_user(), make_user()
    me_client, other_client = client_for(me), client_for(other)
    contact = me_client.post("/api/v1/contacts", {"user_id": str(other.pk)}, format="json").json()
    accepted = other_client.patch(f"/api/v1/contacts/{contact['id']}", {"status": "accepted"}, format="json")
    assert accepted.status_code == 200, accepted.content
    group = me_client.post(
        "/api/v1/groups", {"name": "g", "member_ids": [str(other.pk)]}, format="json"
    ).json()
    message = me_client.post(
        "/api/v1/messages/send",
        {
            "recipient_id": str(other.pk),
            "encrypted_content": "AAAA",
            "encrypted_session_key": "AAAA",
            "crypto_version": "1",
            "encryption_algorithm": "x",
        },
        format="json",
    )
    assert message.status_code == 201, message.content
    ids = {
        "user_id": str(other.pk),
        "group_id": group["id"],
        "contact_id": contact["id"],
        "message_id": message.json()["id"],
    }
    return World(me=me, other=other, client=me_client, ids=ids)


# --- Nested JSON --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [DEEP_JSON, DEEP_OBJECT, PARSEABLE_DEEP_JSON], ids=["array", "object", "500"]
)
def test_nested_json_to_every_route_is_400_parse_error(world, body):
    """Issue 14: 60,000 nested brackets were a 500 (RecursionError). Every route that parses a
    JSON body answers 400 parse_error, signed in or not (the routes that take no body ignore it)."""
    answered = []
    for op in OPERATIONS:
        if op.method not in BODY_METHODS:
            continue
        for client in (world.client, APIClient()):
            response = getattr(client, op.method)(world.path(op), data=body, content_type="application/json")
            envelope = assert_clean(response, str(op))
            if op.json_body and client is world.client:
                answered.append((str(op), response.status_code, envelope and envelope["code"]))
    # Signed in, every route with a JSON body parsed it and refused it as JSON.
    refused = [entry for entry in answered if entry[1:] == (400, "parse_error")]
    assert refused == answered


def test_nested_json_is_400_on_an_open_route(api_client):
    response = api_client.post("/api/v1/auth/login", data=DEEP_JSON, content_type="application/json")
    body = assert_clean(response, "login")
    assert response.status_code == 400 and body["code"] == "parse_error"


def test_json_at_the_depth_limit_still_parses(api_client):
    """32 levels pass the parser (and reach the serializer, which refuses the shape)."""
    from core.parsers import MAX_JSON_DEPTH

    ok = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    response = api_client.post(
        "/api/v1/auth/login", data=f'{{"login": {ok}, "password": "x"}}', content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] != "parse_error"
    too_deep = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    response = api_client.post(
        "/api/v1/auth/login", data=f'{{"login": {too_deep}}}', content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


# --- Query parameters ---------------------------------------------------------------------------


def _baseline(op: Operation, world: World) -> dict[str, str]:
    """Valid values for the parameters a route requires, so each hostile one is what it judges."""
    base = {}
    if "q" in op.query_params:
        base["q"] = "ab"
    if "user_ids" in op.query_params:
        base["user_ids"] = str(world.other.pk)
    return base


def _cursor_values(world: World) -> list[str]:
    """Cursors shaped like the three kinds this API issues, carrying hostile positions."""
    b64 = lambda raw: quote(base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode())  # noqa: E731
    hex_id = uuid.uuid4().hex
    search = '{{"d":"n","b":"username","k":{},"i":"{}"}}'
    return [
        b64("o=²&p=x"),
        b64("o=" + str(10**400)),
        b64("r=²"),
        b64("p=" + "9" * 400),
        b64("p=\x00"),
        b64("p=2024-01-01T00:00:00+00:00\x00"),
        b64(f"².{hex_id}"),
        b64(f"1e3.{hex_id}"),
        b64(f"{'9' * 400}.{hex_id}"),
        b64(f"١٢.{hex_id}"),
        b64(search.format('"\\u0000"', world.other.pk)),
        b64(search.format('"\\ud800"', world.other.pk)),
        b64(search.format("[" * 700 + "]" * 700, world.other.pk)),
        b64(search.format("1e400", world.other.pk)),
        b64('{"d":"n","b":["username"],"k":"a","i":"x"}'),
    ]


def test_every_query_parameter_edge_is_never_a_500(world):
    cursors = _cursor_values(world)
    sent = 0
    for op in OPERATIONS:
        if not op.query_params or op.method != "get":
            continue
        path = world.path(op)
        for name in op.query_params:
            base = "&".join(f"{k}={quote(v)}" for k, v in _baseline(op, world).items() if k != name)
            values = QUERY_VALUES + (cursors if name == "cursor" else [])
            queries = [f"{name}={value}" for value in values]
            queries += [f"{name}=1&{name}=2", f"{name}=&{name}=%00", f"{name}", f"{name}[]=1"]
            for query in queries:
                url = f"{path}?{query}&{base}" if base else f"{path}?{query}"
                assert_clean(world.client.get(url), url[:200])
                sent += 1
    assert sent > 500


def test_delete_scope_edges_are_never_a_500(world):
    op = next(op for op in OPERATIONS if op.method == "delete" and "scope" in op.query_params)
    for value in QUERY_VALUES:
        response = world.client.delete(f"{world.path(op)}?scope={value}")
        body = assert_clean(response, f"scope={value[:40]}")
        assert response.status_code == 400, body


@pytest.mark.parametrize(
    "since",
    ["s%C2%B2", "s%D9%A1%D9%A2", "s%EF%BC%91", "s-0", "s%2B1", "s1e3", "s%201", "s1_000", "s" + "9" * 400,
     "s%00", "s", "%C2%B2", "s1%00", "s%ED%A0%80"],
)  # fmt: skip
def test_sync_refuses_every_malformed_since_with_400(world, since):
    """Issue 14: `since=s²` was a 500 (str.isdigit accepts "²", int() does not)."""
    response = world.client.get(f"/api/v1/sync?since={since}")
    body = assert_clean(response, since)
    assert response.status_code == 400
    assert body["code"] in ("invalid_sync_token", "invalid", "null_characters_not_allowed")


@pytest.mark.parametrize(
    "limit",
    [
        "%C2%B2",
        "%EF%BC%91",
        "%D9%A1%D9%A2",
        "%201",
        "%2B1",
        "1_000",
        "1e3",
        "NaN",
        "inf",
        str(10**400),
        "9" * 5000,
        "-1",
    ],
)
def test_sync_refuses_a_malformed_limit_with_400(world, limit):
    response = world.client.get(f"/api/v1/sync?since=s0&limit={limit}")
    assert_clean(response, limit)
    assert response.status_code == 400


@pytest.mark.parametrize("limit", ["%D9%A1", "%EF%BC%91", "%C2%B9", "%201", "%2B1"])
def test_a_list_limit_in_other_digits_is_400(world, make_user, client_for, limit):
    """`?limit=` is ASCII digits; anything else is a 400 on `limit` (the schema says a positive
    integer), never int()'s reading of an Arabic-Indic or a fullwidth one as 1."""
    for _ in range(2):
        stranger = make_user()
        response = client_for(stranger).post("/api/v1/contacts", {"user_id": str(world.me.pk)}, format="json")
        assert response.status_code == 201
    assert len(world.client.get("/api/v1/contacts?limit=1").json()["results"]) == 1
    response = world.client.get(f"/api/v1/contacts?limit={limit}")
    body = assert_clean(response, limit)
    assert response.status_code == 400 and "limit" in body["errors"]


@pytest.mark.parametrize("key", ['"\\u0000"', '"a\\u0000"', '"\\ud800"', "1", "null", "[" * 300 + "]" * 300])
def test_a_user_search_cursor_with_an_unstorable_key_is_400(world, key):
    """A NUL or a lone surrogate cannot reach a query (PostgreSQL refuses NUL: a 500 there)."""
    raw = f'{{"d":"n","b":"username","k":{key},"i":"{world.other.pk}"}}'
    cursor = quote(base64.urlsafe_b64encode(raw.encode()).decode())
    response = world.client.get(f"/api/v1/users/search?q=ab&cursor={cursor}")
    body = assert_clean(response, key[:20])
    assert response.status_code == 400 and body["code"] == "invalid_cursor"


def test_every_path_parameter_edge_is_a_404_or_400(world):
    sent = 0
    for op in OPERATIONS:
        for name in op.path_params:
            for value in PATH_VALUES:
                path = world.path(op, **{name: value})
                response = getattr(world.client, op.method)(path)
                assert_clean(response, f"{op} {name}={value[:40]}")
                assert response.status_code in (400, 404, 405), (str(op), value[:40], response.status_code)
                sent += 1
    assert sent > 100


# --- Tokens -------------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def forge(payload: str, *, alg: str = "HS256", header: str | None = None) -> str:
    """A JWT with this exact payload text, signed with the server's own key (or alg none)."""
    head = _b64((header or json.dumps({"alg": alg, "typ": "JWT"})).encode())
    body = _b64(payload.encode("utf-8", "surrogatepass"))
    signing_input = f"{head}.{body}".encode()
    key = settings.SIMPLE_JWT["SIGNING_KEY"].encode()
    if alg == "none":
        return f"{head}.{body}."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    return f"{head}.{body}.{_b64(hmac.new(key, signing_input, digest).digest())}"


def claims(subject: str, **overrides: str | None) -> str:
    """The payload text of an access token (values as raw JSON, so 1e400 and NaN can be spelt)."""
    now = int(time.time())
    fields = {
        "token_type": '"access"',
        "exp": str(now + 600),
        "iat": str(now),
        "jti": f'"{uuid.uuid4().hex}"',
        "user_id": f'"{subject}"',
        "sid": f'"{uuid.uuid4().hex}"',
    }
    fields.update(overrides)
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items() if v is not None) + "}"


def hostile_tokens(user_id: str) -> dict[str, str]:
    tokens = {
        "exp 1e20": forge(claims(user_id, exp="1e20")),
        "exp 1e400 (inf)": forge(claims(user_id, exp="1e400")),
        "exp -1e400": forge(claims(user_id, exp="-1e400")),
        "exp NaN": forge(claims(user_id, exp="NaN")),
        "exp 10**400": forge(claims(user_id, exp=str(10**400))),
        "exp negative": forge(claims(user_id, exp="-1")),
        "exp float": forge(claims(user_id, exp=f"{time.time() + 600}")),
        "exp string": forge(claims(user_id, exp='"soon"')),
        "exp true": forge(claims(user_id, exp="true")),
        "exp list": forge(claims(user_id, exp="[1]")),
        "no exp": forge(claims(user_id, exp=None)),
        "iat 1e20": forge(claims(user_id, iat="1e20")),
        "iat 1e400": forge(claims(user_id, iat="1e400")),
        "iat string": forge(claims(user_id, iat='"x"')),
        "iat negative": forge(claims(user_id, iat="-99999999999999")),
        "nbf 1e20": forge(claims(user_id, nbf="1e20")),
        "nbf 1e400": forge(claims(user_id, nbf="1e400")),
        "nbf string": forge(claims(user_id, nbf='"x"')),
        "no user_id": forge(claims(user_id, user_id=None)),
        "user_id not a uuid": forge(claims(user_id, user_id='"not-a-uuid"')),
        "user_id int": forge(claims(user_id, user_id="123")),
        "user_id object": forge(claims(user_id, user_id='{"a": 1}')),
        "user_id NUL": forge(claims(user_id, user_id='"\\u0000"')),
        "user_id surrogate": forge(claims(user_id, user_id='"\\ud800"')),
        "user_id unknown": forge(claims(user_id, user_id=f'"{uuid.uuid4()}"')),
        "user_id huge": forge(claims(user_id, user_id='"' + "a" * 10000 + '"')),
        "jti object": forge(claims(user_id, jti='{"a": 1}')),
        "jti huge": forge(claims(user_id, jti='"' + "j" * 10000 + '"')),
        "jti NUL": forge(claims(user_id, jti='"\\u0000"')),
        "sid list": forge(claims(user_id, sid="[1, 2]")),
        "sid huge": forge(claims(user_id, sid='"' + "s" * 10000 + '"')),
        "token_type refresh": forge(claims(user_id, token_type='"refresh"')),
        "token_type number": forge(claims(user_id, token_type="1")),
        "no token_type": forge(claims(user_id, token_type=None)),
        "payload a list": forge("[1, 2]"),
        "payload a string": forge('"x"'),
        "payload not JSON": forge("{nope"),
        "payload deep": forge("[" * 60000 + "]" * 60000),
        "alg none": forge(claims(user_id), alg="none"),
        "alg HS512": forge(claims(user_id), alg="HS512"),
        "header not JSON": forge(claims(user_id), header="{nope"),
        "header alg list": forge(claims(user_id), header='{"alg": ["HS256"]}'),
        "header deep": forge(claims(user_id), header="[" * 60000 + "]" * 60000),
        "bad base64": "a!!.b$$.c%%",
        "two parts": "abc.def",
        "empty parts": "..",
        "ten kilobytes": "a" * 10240,
        "non-ascii": "é.é.é",
    }
    return tokens


@pytest.fixture
def me(make_user):
    return make_user()


def test_every_malformed_token_as_bearer_is_401(me):
    for name, token in hostile_tokens(str(me.pk)).items():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.get("/api/v1/auth/me")
        body = assert_clean(response, name)
        assert response.status_code == 401, (name, body)
        assert body["code"] in ("token_not_valid", "authentication_failed", "user_inactive"), (name, body)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer  x",
        "Bearer x y",
        "bearer x",
        "Basic dXNlcjpwYXNz",
        "Bearer \u00e9\u00e9",
        "Bearer " + "a" * 10240,
        "\u00ff" * 100,
        "Bearer\tx",
        "Bearer a.b.c",
        "Token x",
        "",
    ],
)
def test_malformed_authorization_headers_are_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/auth/me")
    body = assert_clean(response, header[:40])
    assert response.status_code == 401, body
    assert body["code"] in (
        "token_not_valid",
        "authentication_failed",
        "not_authenticated",
        "bad_authorization_header",
    ), body


def test_every_malformed_token_in_the_refresh_body_is_400_or_401(me):
    from accounts.tokens import issue_token_pair

    access = issue_token_pair(user_id=me.pk).access
    tokens = hostile_tokens(str(me.pk))
    del tokens["token_type refresh"]  # a well-formed refresh token: this one is valid
    tokens["an access token"] = access
    for name, token in tokens.items():
        for refresh in (token, forge(claims(str(me.pk), token_type='"refresh"', **_refresh_overrides(name)))):
            response = APIClient().post("/api/v1/auth/refresh", {"refresh": refresh}, format="json")
            body = assert_clean(response, f"refresh {name}")
            assert response.status_code in (400, 401), (name, body)


def _refresh_overrides(name: str) -> dict[str, str]:
    """The same hostile claim, in a token that says it is a refresh token."""
    mapping = {
        "exp 1e20": {"exp": "1e20"},
        "exp 1e400 (inf)": {"exp": "1e400"},
        "iat 1e400": {"iat": "1e400"},
        "jti huge": {"jti": '"' + "j" * 10000 + '"'},
        "jti object": {"jti": '{"a": 1}'},
        "user_id object": {"user_id": '{"a": 1}'},
        "user_id huge": {"user_id": '"' + "a" * 10000 + '"'},
        "sid list": {"sid": "[1]"},
    }
    return mapping.get(name, {"exp": "1e20"})


def test_every_malformed_token_in_the_logout_body_is_400_or_401(me):
    client = bearer_client(me)
    tokens = hostile_tokens(str(me.pk))
    del tokens["token_type refresh"]  # a well-formed refresh token: this one is valid
    for name, token in tokens.items():
        for refresh in (token, forge(claims(str(me.pk), token_type='"refresh"', **_refresh_overrides(name)))):
            response = client.post("/api/v1/auth/logout", {"refresh": refresh}, format="json")
            body = assert_clean(response, f"logout {name}")
            assert response.status_code in (400, 401), (name, body)
    # None of them ended the session.
    assert client.get("/api/v1/auth/me").status_code == 200


def test_a_refresh_token_as_bearer_and_an_access_token_as_refresh_are_refused(me):
    from accounts.tokens import issue_token_pair

    pair = issue_token_pair(user_id=me.pk)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.refresh}")
    assert client.get("/api/v1/auth/me").status_code == 401
    response = APIClient().post("/api/v1/auth/refresh", {"refresh": pair.access}, format="json")
    assert response.status_code == 401 and response.json()["code"] == "token_not_valid"
    # Both still work as what they are.
    response = APIClient().post("/api/v1/auth/refresh", {"refresh": pair.refresh}, format="json")
    assert response.status_code == 200


# --- Bodies past the limit ----------------------------------------------------------------------


def _concrete(op: Operation) -> str:
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", str(uuid.uuid4()))
    return path


def _asgi_request(
    path: str, method: str, headers: list[tuple[bytes, bytes]], chunks
) -> tuple[int, dict, int]:
    """(status, body, bytes the application took) for one request through messenger.asgi."""
    from messenger.asgi import application

    taken = 0
    sent: list[dict] = []

    async def receive():
        nonlocal taken
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.disconnect"}
        taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(application(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert (b"connection", b"close") in start["headers"]
    return start["status"], json.loads(body), taken


def _endless(size: int = 64 * 1024):
    while True:
        yield b"0" * size


def _limit_for(op: Operation) -> tuple[int, str]:
    from core.bodylimit import body_limit

    return body_limit(_concrete(op))


BODY_OPERATIONS = [op for op in OPERATIONS if op.method in BODY_METHODS]


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=str)
def test_a_declared_length_past_the_limit_is_413_unread_on_every_route(op, me):
    limit, code = _limit_for(op)
    assert limit <= settings.MEDIA_MAX_UPLOAD_BYTES + 2 * 1024 * 1024
    for auth in ([], [(b"authorization", f"Bearer {bearer_token(me)}".encode())]):
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(limit + 1).encode()),
            *auth,
        ]
        status, body, taken = _asgi_request(_concrete(op), op.method, headers, _endless())
        assert (status, body["code"], taken) == (413, code, 0), (str(op), status, body)


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=str)
def test_a_chunked_body_is_cut_off_at_the_limit_on_every_route(op, me):
    limit, code = _limit_for(op)
    if code == "media_too_large":
        pytest.skip("the upload's limit is 100 MiB: tests/hostile/test_body_limits.py sends past a small one")
    headers = [
        (b"content-type", b"application/json"),
        (b"transfer-encoding", b"chunked"),
        (b"authorization", f"Bearer {bearer_token(me)}".encode()),
    ]
    status, body, taken = _asgi_request(_concrete(op), op.method, headers, _endless())
    assert (status, body["code"]) == (413, code), (str(op), status, body)
    assert limit < taken <= limit + 64 * 1024  # stopped at the first chunk past the limit


def bearer_token(user) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=str)
def test_wsgi_refuses_a_body_past_the_limit_on_every_route(op):
    from messenger.wsgi import application

    limit, code = _limit_for(op)
    for declared, extra in ((str(limit + 1), {}), ("", {"HTTP_TRANSFER_ENCODING": "chunked"})):
        stream = io.BytesIO(b"0" * (limit + 2 * 64 * 1024)) if not declared else _Unreadable()
        if code == "media_too_large" and not declared:
            continue  # 100 MiB: see test_body_limits.py
        environ = {
            "REQUEST_METHOD": op.method.upper(),
            "PATH_INFO": _concrete(op),
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": declared,
            "wsgi.input": stream,
            "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
            **extra,
        }
        statuses: list[str] = []

        def start_response(status, headers, exc_info=None, statuses=statuses):
            statuses.append(status)

        answer = b"".join(application(environ, start_response))
        assert statuses[0].startswith("413"), (str(op), statuses, answer)
        assert json.loads(answer)["code"] == code
        if not declared:
            assert stream.tell() <= limit + 64 * 1024  # read up to the limit, not to the end


class _Unreadable(io.RawIOBase):
    def read(self, size=-1):
        raise AssertionError("the body was read")


def test_the_default_json_limit_fits_the_largest_group_message():
    """API_MAX_BODY_BYTES' default is what a group message at every cap needs: GROUP_MAX_MEMBERS
    wrapped keys of MESSAGE_MAX_KEY_BYTES and a ciphertext of MESSAGE_MAX_CIPHERTEXT_BYTES."""
    key = base64.b64encode(b"k" * settings.MESSAGE_MAX_KEY_BYTES).decode()
    body = {
        "encrypted_content": base64.b64encode(b"c" * settings.MESSAGE_MAX_CIPHERTEXT_BYTES).decode(),
        "encrypted_session_keys": {str(uuid.uuid4()): key for _ in range(settings.GROUP_MAX_MEMBERS)},
        "crypto_version": "v" * 32,
        "encryption_algorithm": "a" * 64,
        "client_message_id": str(uuid.uuid4()),
        "attachment_ids": [str(uuid.uuid4()) for _ in range(32)],
    }
    size = len(json.dumps(body, separators=(", ", ": ")).encode())
    assert size <= settings.API_MAX_BODY_BYTES <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert size * 2 > settings.API_MAX_BODY_BYTES  # and not much more


@pytest.mark.parametrize("length", ["+12", " 12", "1_0", "١٢", "12a", "-1", "0x10", "1e3"])
def test_a_malformed_content_length_is_400_unread(length):
    """Servers refuse most of these themselves; the entry point does too (int() would accept
    " 12", "+12", "1_0" and "١٢")."""
    headers = [(b"content-type", b"application/json"), (b"content-length", length.encode("utf-8"))]
    status, body, taken = _asgi_request("/api/v1/auth/login", "post", headers, _endless())
    assert (status, body["code"], taken) == (400, "bad_request", 0)
