"""Every error under /api/ is the JSON envelope of docs/API.md, never HTML or a traceback."""

import base64
import shutil

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.urls")]


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.content.decode()
    return body


def test_unknown_api_route_is_json_404(api_client):
    body = assert_envelope(api_client.get("/api/v1/no/such/route"), 404, "not_found")
    assert body == {"detail": "Not found.", "code": "not_found"}


def test_unknown_api_route_outside_v1_is_json_404(api_client):
    assert_envelope(api_client.get("/api/v2/messages"), 404, "not_found")


def test_wrong_method_is_json_405(api_client):
    body = assert_envelope(api_client.delete("/api/v1/test/echo"), 405, "method_not_allowed")
    assert "DELETE" in body["detail"]


def test_malformed_json_is_400_parse_error(api_client):
    response = api_client.post("/api/v1/test/echo", data='{"blob": "AAAA",', content_type="application/json")
    assert_envelope(response, 400, "parse_error")


def test_validation_error_lists_fields(api_client):
    response = api_client.post("/api/v1/test/echo", {"blob": "not base64!!"}, format="json")
    body = assert_envelope(response, 400, "invalid")
    assert body["errors"]["blob"] == ["Not valid standard base64."]
    assert body["errors"]["name"] == ["This field is required."]


def test_base64_within_limit_round_trips(api_client):
    blob = base64.b64encode(b"x" * 16).decode()
    response = api_client.post("/api/v1/test/echo/", {"blob": blob, "name": "a"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"length": 16, "blob": blob}


def test_base64_over_limit_is_413(api_client):
    blob = base64.b64encode(b"x" * 17).decode()
    response = api_client.post("/api/v1/test/echo", {"blob": blob, "name": "a"}, format="json")
    body = assert_envelope(response, 413, "payload_too_large")
    assert "blob" in body["detail"]


@pytest.mark.parametrize("blob", ["eHh4eA", "YWJj=", "YWJj==", "QR==", "YW Jj", "YWJj\n"])
def test_non_canonical_base64_is_400(api_client, blob):
    """Missing or surplus padding, stray trailing bits, whitespace: one ciphertext, one spelling."""
    response = api_client.post("/api/v1/test/echo", {"blob": blob, "name": "a"}, format="json")
    body = assert_envelope(response, 400, "invalid")
    assert body["errors"]["blob"] == ["Not valid standard base64."]


def test_too_many_query_parameters_is_400_not_500(user_client, settings):
    """Django refuses the query string (SuspiciousOperation) when a view first reads it."""
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"f{i}=1" for i in range(11))
    response = user_client.get(f"/api/v1/users/search?q=ab&{query}")
    assert_envelope(response, 400, "bad_request")
    assert user_client.get("/api/v1/users/search?q=ab").status_code == 200


def test_body_over_django_limit_is_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api_client.post("/api/v1/test/echo", {"blob": "AAAA", "name": "x" * 200}, format="json")
    assert_envelope(response, 413, "payload_too_large")


def test_unhandled_exception_is_json_500_without_internals(api_client, caplog):
    response = api_client.get("/api/v1/test/boom")
    body = assert_envelope(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()
    assert body == {"detail": "Internal server error.", "code": "server_error"}
    # ...but the operator's log has it.
    assert any("secret internals" in str(record.exc_info) for record in caplog.records if record.exc_info)


def test_throttle_is_429_with_retry_after_and_rate_from_settings(api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "test_echo": "2/30m"}
    assert api_client.get("/api/v1/test/throttled").status_code == 200
    assert api_client.get("/api/v1/test/throttled").status_code == 200
    response = api_client.get("/api/v1/test/throttled")
    assert_envelope(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 1800


def test_a_lone_surrogate_echoed_back_in_an_error_is_400_not_500(client_for, make_user):
    """JSON may spell a lone surrogate ("\\ud800"), which UTF-8 cannot carry. DRF's choice error
    echoes the value it refused (`"..." is not a valid choice.`), and rendering that echo failed:
    a 500 for a bad input. The envelope now carries U+FFFD in its place."""
    asker, asked = make_user(), make_user()
    contact = client_for(asker).post("/api/v1/contacts", {"user_id": str(asked.pk)}, format="json")
    assert contact.status_code == 201, contact.content
    response = client_for(asked).patch(
        f"/api/v1/contacts/{contact.json()['id']}",
        data=b'{"status": "\\ud800"}',
        content_type="application/json",
    )
    body = assert_envelope(response, 400, "invalid_choice")
    assert body["errors"]["status"] == ['"\ufffd\ufffd\ufffd" is not a valid choice.']


def test_a_lone_surrogate_in_a_dict_key_is_400_not_500(client_for, make_user):
    owner = make_user()
    group = client_for(owner).post("/api/v1/groups", {"name": "g"}, format="json").json()
    body = (
        b'{"encrypted_content": "AA==", "encrypted_session_keys": {"\\ud800": "AA=="}, '
        b'"crypto_version": "1", "encryption_algorithm": "x"}'
    )
    response = client_for(owner).post(
        f"/api/v1/groups/{group['id']}/messages", data=body, content_type="application/json"
    )
    assert_envelope(response, 400, "invalid")


def test_envelope_replaces_lone_surrogates_everywhere():
    import json

    from core.exceptions import envelope

    body = envelope("bad \ud800", "code", {"field.\udc00": ["echo \ud83d"], "plain": ["ok"]})
    assert json.loads(json.dumps(body, ensure_ascii=False).encode("utf-8")) == {
        "detail": "bad \ufffd\ufffd\ufffd",
        "code": "code",
        "errors": {"field.\ufffd\ufffd\ufffd": ["echo \ufffd\ufffd\ufffd"], "plain": ["ok"]},
    }


def test_a_host_header_django_refuses_is_a_json_400_under_api(api_client):
    """Django refuses a malformed Host before any view runs; under /api/ its 400 is the envelope
    too, not Django's HTML page (outside /api/ it stays Django's)."""
    body = assert_envelope(api_client.get("/api/v1/auth/me", HTTP_HOST="bad host!"), 400, "bad_request")
    assert body == {"detail": "The request is malformed.", "code": "bad_request"}
    assert not api_client.get("/healthz", HTTP_HOST="bad host!")["Content-Type"].startswith(
        "application/json"
    )


@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs a redis-server binary of its own to fill")
def test_a_redis_refusing_writes_is_503_not_500(api_client, settings, tmp_path):
    """The cache Redis at its maxmemory refuses the throttle's counter write (OOM), or is gone:
    the request cannot be served right now, which is a 503 the client retries, not a 500."""
    import redis

    from tests.notifications.broker import closed_port
    from tests.relay.redis_server import RedisServer

    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "test_echo": "100/m"}
    server = RedisServer(tmp_path / "redis").start()
    admin = redis.Redis.from_url(server.url)
    try:
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url}
        }
        assert api_client.get("/api/v1/test/throttled").status_code == 200
        admin.config_set("maxmemory", "1")
        body = assert_envelope(api_client.get("/api/v1/test/throttled"), 503, "service_unavailable")
        assert body["detail"] == "A service this request needs is unavailable; try again shortly."
        admin.config_set("maxmemory", "0")
        assert api_client.get("/api/v1/test/throttled").status_code == 200
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            }
        }
        assert_envelope(api_client.get("/api/v1/test/throttled"), 503, "service_unavailable")
    finally:
        admin.close()
        server.stop()


def test_a_database_cancelling_the_query_is_503_with_retry_after(api_client, caplog):
    """PostgreSQL cancels the statement at its timeout (an OperationalError, as a lost connection
    or a lock timeout would be): the work rolled back and may succeed on retry, so 503, not 500."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's; the mapping itself is vendor-neutral")
    response = api_client.get("/api/v1/test/slow-query")
    assert_envelope(response, 503, "service_unavailable")
    assert response["Retry-After"] == "1"
    assert "statement timeout" not in response.content.decode()
    assert any("unavailable" in record.getMessage() for record in caplog.records)
    # The connection is usable again: the next request on it is served.
    assert api_client.get("/api/v1/test/throttled").status_code == 200
