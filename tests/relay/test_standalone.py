"""A relay-only process for real: `daphne messenger.relay_service.asgi:application` on a free port,
with its own database (migrated by its own settings: only the apps relay stands on) and its own
throwaway Redis. Queue, pending and ack over HTTP; other apps' routes are 404 there; their code is
never imported; and the process answers 503 while its Redis is down, then recovers.

Runs in both modes (it needs only a redis-server binary): the process gets a SQLite file of its
own, so this shows the relay needs no other app's tables either. In production it would point
DATABASE_URL at the accounts database (or a replica), REDIS_URL at the gateways' Redis.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from tests.notifications.broker import closed_port
from tests.relay.redis_server import RedisServer, redis_server_binary, stop_process

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not redis_server_binary(), reason="needs a redis-server binary"),
]

ROOT = Path(settings.BASE_DIR)
OTHER_APPS = (
    "contacts",
    "messaging",
    "groups",
    "media",
    "notifications",
    "realtime",
    "messenger.urls",
)

SEED_USERS = """
import json
from accounts.models import User
users = [User.objects.create_user(email=f"{n}@example.com", username=n) for n in ("ann", "bob", "cat")]
print(json.dumps([str(u.pk) for u in users]))
"""

# Run in a process of its own, with the relay-only settings: load the ASGI app and every route,
# serve a queue / pending / ack through Django's handler, then list what got imported.
MODULE_PROBE = """
import json, sys
import django
django.setup()
from django.test import Client
from django.urls import get_resolver
import messenger.relay_service.asgi  # noqa: F401
get_resolver().url_patterns  # import every URLconf the routes name
ann, bob, token_ann, token_bob = sys.argv[1:5]
client = Client()
statuses = []
response = client.post("/api/v1/relay/queue", {"recipient_id": bob, "payload": "eA=="},
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token_ann}")
statuses.append(response.status_code)
envelope = response.json()["id"]
statuses.append(client.get(f"/api/v1/relay/pending/{bob}", HTTP_AUTHORIZATION=f"Bearer {token_bob}").status_code)
statuses.append(client.delete(f"/api/v1/relay/{envelope}", HTTP_AUTHORIZATION=f"Bearer {token_bob}").status_code)
other = tuple(sys.argv[5].split(","))
loaded = sorted(m for m in sys.modules if any(m == o or m.startswith(o + ".") for o in other))
print(json.dumps({"statuses": statuses, "loaded": loaded}))
"""


@dataclass
class RelayService:
    url: str
    env: dict[str, str]
    redis: RedisServer
    process: subprocess.Popen
    log_path: Path
    ann: str
    bob: str
    cat: str

    def client(self, user_id: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {access_token(user_id)}"} if user_id else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


def access_token(user_id: str) -> str:
    """An access JWT signed with the key both processes share (as a login would mint it)."""
    token = AccessToken()
    token["user_id"] = user_id
    return str(token)


def run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_until_serving(service: RelayService, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"the relay process exited:\n{service.log()}")
        try:
            if httpx.get(f"{service.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the relay process did not answer within {timeout}s:\n{service.log()}")


@pytest.fixture(scope="module")
def relay_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayService]:
    tmp = tmp_path_factory.mktemp("relay-service")
    redis = RedisServer(tmp / "redis").start()
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "RELAY_", "CELERY_"))
    }
    env = {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "messenger.relay_service.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "DEBUG": "0",
        "DATABASE_URL": f"sqlite:///{tmp / 'relay.sqlite3'}",
        "REDIS_URL": redis.url,
        "VAR_DIR": str(tmp / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    migrated = run(env, "manage.py", "migrate", "--noinput")
    assert "Applying relay.0001_initial... OK" in migrated
    assert not [app for app in ("contacts.", "messaging.", "groups.", "media.") if app in migrated]
    ann, bob, cat = json.loads(run(env, "manage.py", "shell", "-c", SEED_USERS).strip().splitlines()[-1])

    port = closed_port()
    log_path = tmp / "daphne.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "messenger.relay_service.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = RelayService(
        url=f"http://127.0.0.1:{port}",
        env=env,
        redis=redis,
        process=process,
        log_path=log_path,
        ann=ann,
        bob=bob,
        cat=cat,
    )
    try:
        wait_until_serving(service)
        yield service
    finally:
        stop_process(process)
        redis.stop()


def test_queue_pending_ack_over_http(relay_service: RelayService):
    service = relay_service
    payload = os.urandom(300)
    with (
        service.client(service.ann) as ann,
        service.client(service.bob) as bob,
        service.client(service.cat) as cat,
    ):
        queued = ann.post(
            "/api/v1/relay/queue",
            json={
                "recipient_id": service.bob,
                "payload": base64.b64encode(payload).decode(),
                "ttl_seconds": 60,
            },
        )
        assert queued.status_code == 201, queued.text
        envelope = queued.json()
        assert envelope["sender_id"] == service.ann and envelope["recipient_id"] == service.bob

        page = bob.get(f"/api/v1/relay/pending/{service.bob}").json()
        assert [item["id"] for item in page["results"]] == [envelope["id"]]
        assert base64.b64decode(page["results"][0]["payload"]) == payload

        # The rules hold here as in the monolith: one's own queue only, the recipient acks.
        assert ann.get(f"/api/v1/relay/pending/{service.bob}").status_code == 403
        assert cat.delete(f"/api/v1/relay/{envelope['id']}").status_code == 404
        assert bob.delete(f"/api/v1/relay/{envelope['id']}").status_code == 204
        assert bob.get(f"/api/v1/relay/pending/{service.bob}").json()["results"] == []
        assert bob.delete(f"/api/v1/relay/{envelope['id']}").status_code == 404

    with service.client() as anonymous:
        assert anonymous.get(f"/api/v1/relay/pending/{service.bob}").status_code == 401
        ready = anonymous.get("/readyz")
        # It publishes into the channel layer too: its shard list is checked like the others'.
        checks = {"database": True, "redis": True, "channel_layer_shards": True}
        assert ready.status_code == 200 and ready.json()["checks"] == checks


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/messages/send"),
        ("GET", "/api/v1/messages/conversations"),
        ("GET", "/api/v1/sync"),
        ("GET", "/api/v1/contacts"),
        ("POST", "/api/v1/invitations/send"),
        ("GET", "/api/v1/groups"),
        ("POST", "/api/v1/media/upload"),
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/users/search?q=ann"),
        ("POST", "/api/v1/auth/ws-ticket"),
    ],
)
def test_other_apps_routes_are_json_404_there(relay_service: RelayService, method: str, path: str):
    with relay_service.client(relay_service.ann) as client:
        response = client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_no_admin_no_sockets_and_a_schema_of_relay_alone(relay_service: RelayService):
    with relay_service.client() as client:
        assert client.get("/admin/").status_code == 404
        assert client.get("/ws/").status_code == 404
        schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    assert set(schema["paths"]) == {
        "/api/v1/relay/queue",
        "/api/v1/relay/pending/{user_id}",
        "/api/v1/relay/{message_id}",
    }


def test_other_apps_code_is_never_imported(relay_service: RelayService):
    service = relay_service
    output = run(
        service.env,
        "-c",
        MODULE_PROBE,
        service.ann,
        service.bob,
        access_token(service.ann),
        access_token(service.bob),
        ",".join(OTHER_APPS),
    )
    probe = json.loads(output.strip().splitlines()[-1])
    assert probe["statuses"] == [201, 200, 204]
    assert probe["loaded"] == []


def test_redis_down_is_503_with_the_envelope_then_it_recovers(relay_service: RelayService):
    service = relay_service
    body = {"recipient_id": service.bob, "payload": base64.b64encode(b"during the outage").decode()}
    service.redis.stop()
    try:
        with service.client(service.ann) as ann, service.client(service.bob) as bob:
            for response in (
                ann.post("/api/v1/relay/queue", json=body),
                bob.get(f"/api/v1/relay/pending/{service.bob}"),
            ):
                assert response.status_code == 503, response.text
                envelope = response.json()
                assert set(envelope) == {"detail", "code"} and envelope["code"] in {
                    "relay_unavailable",
                    "service_unavailable",  # the token denylist (Redis too) is checked first
                }
            assert httpx.get(f"{service.url}/readyz", timeout=10).json()["checks"]["redis"] is False
    finally:
        service.redis.start()

    with service.client(service.ann) as ann, service.client(service.bob) as bob:
        assert ann.post("/api/v1/relay/queue", json=body).status_code == 201
        [item] = bob.get(f"/api/v1/relay/pending/{service.bob}").json()["results"]
        assert base64.b64decode(item["payload"]) == b"during the outage"
    assert service.process.poll() is None, service.log()
