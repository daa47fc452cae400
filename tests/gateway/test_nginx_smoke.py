"""The gateway for real (issue 19): nginx with deploy/nginx/messenger.conf.template in front of
gunicorn (REST, deploy/gunicorn.conf.py), uvicorn (/ws/) and the relay-only process
(messenger.relay_service), all on loopback, and a smoke suite through nginx alone.

nginx runs as a child of the test (no daemon, no system service), with its prefix, pid file, temp
dirs and logs under a temporary directory. Skipped when nginx is not installed, unless
GATEWAY_SMOKE_REQUIRED=1 (.ci/run sets it, after installing Debian's nginx): then a missing
nginx fails. Needs PostgreSQL and Redis like tests/realtime/test_cross_process.py (the processes
share the test database and channel layer), whose helpers it uses.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.messaging.helpers import send_body
from tests.s3 import stop_process
from tests.servers import (
    BASE_DIR,
    START_TIMEOUT_SECONDS,
    Recipient,
    Server,
    delete_keys,
    free_port,
    open_socket,
    register,
    rest_post,
    server_command,
    server_env,
    skip_unless_postgres_and_redis,
    wait_until_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TEMPLATE = BASE_DIR / "deploy" / "nginx" / "messenger.conf.template"
UPLOAD_BYTES = 50 * 1024 * 1024
LOGIN_IP_LIMIT = 3


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )
    if found is None:
        message = "nginx is not installed (apt-get install nginx-light)"
        if os.environ.get("GATEWAY_SMOKE_REQUIRED") == "1":
            pytest.fail(f"{message}; GATEWAY_SMOKE_REQUIRED=1 makes the gateway smoke mandatory")
        pytest.skip(message)
    return found


def render(template: str, values: dict[str, str]) -> str:
    """What envsubst does with these names only: nginx's own $variables stay."""
    for name, value in values.items():
        template = template.replace("${" + name + "}", value)
    unfilled = re.findall(r"^[^#\n]*(\$\{\w+\})", template, re.MULTILINE)
    assert not unfilled, f"no value for {unfilled} (comments aside)"
    return template


def nginx_main_conf(prefix: Path, site: Path) -> str:
    # One process (no master, no user switch: the test may run as root or not), in the foreground.
    temp = {name: prefix / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    return f"""
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""


@dataclass
class Gateway:
    nginx: Server
    rest: Server
    sockets: Server
    relay: Server
    prefix: Path

    def error_log(self) -> str:
        return (self.prefix / "error.log").read_text(errors="replace")

    def access_log(self) -> str:
        return (self.prefix / "access.log").read_text(errors="replace")


def wait_for_port(server: Server, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise AssertionError(f"{server.kind} exited ({server.process.returncode}):\n{server.log()}")
        try:
            httpx.get(f"{server.url}/healthz", timeout=2, trust_env=False)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{server.kind} not up within {START_TIMEOUT_SECONDS}s:\n{server.log()}"
                ) from None
            time.sleep(0.1)


@pytest.fixture
def gateway(transactional_db, django_db_blocker, tmp_path_factory) -> Iterator[Gateway]:
    nginx = nginx_binary()
    skip_unless_postgres_and_redis()
    tmp = tmp_path_factory.mktemp("gateway")
    prefix = f"test-gateway-{uuid.uuid4().hex[:12]}"
    with django_db_blocker.unblock():
        env = server_env(prefix, tmp)
    # Behind one trusted proxy: the hop nginx appends to X-Forwarded-For is the client.
    env.update({"NUM_PROXIES": "1", "THROTTLE_LOGIN_IP": f"{LOGIN_IP_LIMIT}/30m", "LOG_LEVEL": "INFO"})
    ports = {kind: free_port() for kind in ("rest", "sockets", "relay", "nginx")}
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "deploy/gunicorn.conf.py",
        "-w",
        "1",
        "--threads",
        "4",
    ]
    commands = {
        "rest": [
            *gunicorn,
            "-b",
            f"127.0.0.1:{ports['rest']}",
            "--access-logfile",
            str(tmp / "rest-access.log"),
        ],
        "sockets": server_command("uvicorn", ports["sockets"]),
        "relay": [
            *(
                *gunicorn,
                "-b",
                f"127.0.0.1:{ports['relay']}",
                "--access-logfile",
                str(tmp / "relay-access.log"),
            ),
            "messenger.relay_service.wsgi",
        ],
    }
    commands["rest"].append("messenger.wsgi")
    nginx_dir = tmp / "nginx"
    nginx_dir.mkdir()
    site = nginx_dir / "messenger.conf"
    site.write_text(
        render(
            TEMPLATE.read_text(),
            {
                "MESSENGER_REST": f"127.0.0.1:{ports['rest']}",
                "MESSENGER_SOCKETS": f"127.0.0.1:{ports['sockets']}",
                "MESSENGER_RELAY": f"127.0.0.1:{ports['relay']}",
                "MESSENGER_MINIO": f"127.0.0.1:{free_port()}",  # not exercised here
                "NGINX_PORT": f"127.0.0.1:{ports['nginx']}",
                "NGINX_LOG_DIR": str(nginx_dir),
            },
        )
    )
    (nginx_dir / "nginx.conf").write_text(nginx_main_conf(nginx_dir, site))
    commands["nginx"] = [nginx, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf"), "-e", "stderr"]
    started: dict[str, Server] = {}
    try:
        for kind, command in commands.items():
            process_env = (
                {**env, "DJANGO_SETTINGS_MODULE": "messenger.relay_service.settings"}
                if kind == "relay"
                else env
            )
            log_path = tmp / f"{kind}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    command, cwd=BASE_DIR, env=process_env, stdout=log, stderr=subprocess.STDOUT
                )
            started[kind] = Server(kind=kind, port=ports[kind], process=process, log_path=log_path)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for kind in ("rest", "sockets"):
            wait_until_ready(started[kind], deadline)
        wait_for_port(started["relay"], deadline)  # it has no /readyz: any answer will do
        wait_for_port(started["nginx"], deadline)
        yield Gateway(
            nginx=started["nginx"],
            rest=started["rest"],
            sockets=started["sockets"],
            relay=started["relay"],
            prefix=nginx_dir,
        )
    finally:
        for server in started.values():
            stop_process(server.process)
        delete_keys(prefix)


def access_log(server: Server) -> str:
    return (server.log_path.parent / f"{server.kind}-access.log").read_text(errors="replace")


async def test_the_gateway_through_nginx(gateway: Gateway) -> None:
    front = gateway.nginx

    # REST through nginx, with the request id nginx made (a client's own is replaced).
    async with httpx.AsyncClient(base_url=front.url, trust_env=False, timeout=30) as client:
        health = await client.get("/healthz", headers={"X-Request-ID": "forged-by-the-client"})
        assert health.status_code == 200, health.text
        request_id = health.headers.get("X-Request-ID", "")
        assert len(request_id) == 32 and request_id != "forged-by-the-client", health.headers
        assert (await client.get("/metrics")).status_code == 404  # never public
    ann = await register(front, "ann")
    bob = await register(front, "bob")

    # A socket upgrade through nginx (the ticket over REST through nginx too), and a live message.
    ann_socket = await open_socket(front, ann, ticket_from=front)
    try:
        body = send_body(Recipient(ann))
        sent = await rest_post(front, bob, "/api/v1/messages/send", body)
        frame = await ann_socket.next_frame("message.new", id=sent["id"])
        assert frame["data"]["encrypted_content"] == body["encrypted_content"]
    finally:
        await ann_socket.close()

    # The relay goes to its own process: its access log has the request, the main process's not.
    relayed = await rest_post(
        front,
        bob,
        "/api/v1/relay/queue",
        {"recipient_id": ann.id, "payload": base64.b64encode(b"sealed").decode()},
    )
    assert relayed["recipient_id"] == ann.id
    await asyncio.sleep(0.5)  # gunicorn writes its access line after the response
    assert "POST /api/v1/relay/queue" in access_log(gateway.relay), access_log(gateway.relay)
    assert "/api/v1/relay/" not in access_log(gateway.rest)
    assert "POST /api/v1/messages/send" in access_log(gateway.rest)

    # A 50 MiB upload streams through: nginx never spools it to a temporary file (it warns in
    # its error log when it does), and the app stores every byte.
    blob = os.urandom(UPLOAD_BYTES)
    async with httpx.AsyncClient(base_url=front.url, trust_env=False, timeout=120) as client:
        uploaded = await client.post(
            "/api/v1/media/upload",
            files={"file": ("blob.bin", blob, "application/octet-stream")},
            headers={"Authorization": f"Bearer {ann.access}"},
        )
    assert uploaded.status_code == 201, uploaded.text[:2000]
    assert uploaded.json()["file_size"] == UPLOAD_BYTES
    assert "buffered to a temporary file" not in gateway.error_log(), gateway.error_log()
    del blob

    # X-Forwarded-For: a forged value per attempt buys no fresh bucket. nginx appends the address
    # it saw and the app (NUM_PROXIES=1) reads only that hop, so every attempt is 127.0.0.1's.
    async with httpx.AsyncClient(base_url=front.url, trust_env=False, timeout=30) as client:
        statuses = [
            (
                await client.post(
                    "/api/v1/auth/login",
                    json={"login": f"ghost{n}", "password": "wrong-password"},
                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                )
            ).status_code
            for n in range(LOGIN_IP_LIMIT + 1)
        ]
    assert statuses == [401] * LOGIN_IP_LIMIT + [429], statuses

    # No query string in nginx's access log: not a search term, not a socket's ticket.
    secret = f"needle-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=front.url, trust_env=False, timeout=30) as client:
        searched = await client.get(
            f"/api/v1/users/search?q={secret}", headers={"Authorization": f"Bearer {ann.access}"}
        )
    assert searched.status_code == 200, searched.text
    await asyncio.sleep(0.2)
    log = gateway.access_log()
    assert '"GET /api/v1/users/search"' in log and '"GET /ws/"' in log, log
    assert secret not in log and "ticket=" not in log and "?" not in log, log
    assert secret not in access_log(gateway.rest), access_log(gateway.rest)
    assert request_id in log  # the id nginx made is in its own line, for correlation
