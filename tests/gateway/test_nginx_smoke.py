"""The gateway for real (issue 19): nginx with deploy/nginx/messenger.conf.template in front of
gunicorn (REST, deploy/gunicorn.conf.py, two workers), two uvicorn processes (/ws/, both in the
template's upstream) and the relay-only process (messenger.relay_service), all on loopback, and a
smoke suite through nginx alone.

Scale-out on one box: sockets land on both ASGI processes (each process's own log names the users
it authenticated), messages sent over REST through both gunicorn workers (their pids in the
access log) reach the sockets on both processes exactly once, and the REST processes' /metrics
(prometheus-client's multiprocess mode, one directory for both workers, as deploy/ runs them)
counts exactly the messages sent, whichever worker stored them.

nginx runs as a child of the test (no daemon, no system service), with its prefix, pid file, temp
dirs and logs under a temporary directory. Skipped when nginx is not installed, unless
GATEWAY_SMOKE_REQUIRED=1 (.ci/run sets it, after installing Debian's nginx): then a missing
nginx fails. Needs PostgreSQL and Redis like tests/realtime/test_cross_process.py (the processes
share the test database and channel layer), whose helpers it uses.
"""

from __future__ import annotations

import asyncio
import base64
import json
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
    Account,
    Recipient,
    Server,
    Socket,
    delete_keys,
    free_port,
    group_message_body,
    key_prefix,
    open_socket,
    register,
    rest_post,
    scrape,
    server_command,
    server_env,
    skip_unless_postgres_and_redis,
    value,
    wait_until_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TEMPLATE = BASE_DIR / "deploy" / "nginx" / "messenger.conf.template"
UPLOAD_BYTES = 50 * 1024 * 1024
LOGIN_IP_LIMIT = 3
SOCKET_PROCESSES = ("sockets-0", "sockets-1")
REST_WORKERS = 2
BATCH = 12  # messages sent at once, until both gunicorn workers have stored some
MAX_BATCHES = 8


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
    for name, filled in values.items():
        template = template.replace("${" + name + "}", filled)
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
    sockets: list[Server]
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
    prefix = key_prefix("gateway")
    with django_db_blocker.unblock():
        env = server_env(prefix, tmp)
    # Behind one trusted proxy: the hop nginx appends to X-Forwarded-For is the client.
    env.update({"NUM_PROXIES": "1", "THROTTLE_LOGIN_IP": f"{LOGIN_IP_LIMIT}/30m", "LOG_LEVEL": "INFO"})
    ports = {kind: free_port() for kind in ("rest", *SOCKET_PROCESSES, "relay", "nginx")}
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--threads", "4"]
    commands = {
        "rest": [
            *(*gunicorn, "-w", str(REST_WORKERS), "-b", f"127.0.0.1:{ports['rest']}"),
            *("--access-logfile", str(tmp / "rest-access.log"), "messenger.wsgi"),
        ],
        **{kind: server_command("uvicorn", ports[kind]) for kind in SOCKET_PROCESSES},
        "relay": [
            *(*gunicorn, "-w", "1", "-b", f"127.0.0.1:{ports['relay']}"),
            *("--access-logfile", str(tmp / "relay-access.log"), "messenger.relay_service.wsgi"),
        ],
    }
    # The REST workers share one multiprocess directory, as a pod's do (deploy/k8s): a scrape
    # answered by either worker counts both. Each uvicorn answers for itself (one per pod).
    rest_metrics = tmp / "rest-prometheus"
    rest_metrics.mkdir()
    nginx_dir = tmp / "nginx"
    nginx_dir.mkdir()
    site = nginx_dir / "messenger.conf"
    site.write_text(
        render(
            TEMPLATE.read_text(),
            {
                "MESSENGER_REST": f"127.0.0.1:{ports['rest']}",
                "MESSENGER_SOCKETS_SERVERS": " ".join(
                    f"server 127.0.0.1:{ports[kind]};" for kind in SOCKET_PROCESSES
                ),
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
            process_env = {
                "relay": {**env, "DJANGO_SETTINGS_MODULE": "messenger.relay_service.settings"},
                "rest": {**env, "PROMETHEUS_MULTIPROC_DIR": str(rest_metrics)},
            }.get(kind, env)
            log_path = tmp / f"{kind}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    command, cwd=BASE_DIR, env=process_env, stdout=log, stderr=subprocess.STDOUT
                )
            started[kind] = Server(kind=kind, port=ports[kind], process=process, log_path=log_path)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for kind in ("rest", *SOCKET_PROCESSES):
            wait_until_ready(started[kind], deadline)
        wait_for_port(started["relay"], deadline)  # it has no /readyz: any answer will do
        wait_for_port(started["nginx"], deadline)
        yield Gateway(
            nginx=started["nginx"],
            rest=started["rest"],
            sockets=[started[kind] for kind in SOCKET_PROCESSES],
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
    carol = await register(front, "carol")
    group = await rest_post(front, carol, "/api/v1/groups", {"name": "smoke", "member_ids": [ann.id, bob.id]})

    # Socket upgrades through nginx (the tickets over REST through nginx too): the upstream hands
    # a new socket to the process holding fewer, so ann's and bob's land on different processes.
    ann_socket = await open_socket(front, ann, ticket_from=front)
    bob_socket = await open_socket(front, bob, ticket_from=front)
    try:
        await messages_reach_sockets_on_both_processes(
            gateway, carol, group["id"], {ann.id: ann_socket, bob.id: bob_socket}
        )
    finally:
        await ann_socket.close()
        await bob_socket.close()

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


# --- scale-out: two ASGI processes, two REST workers ---------------------------------------------


def socket_process(gateway: Gateway, user_id: str) -> list[str]:
    """The ASGI processes whose own log has this user's socket authenticated (JSON lines)."""
    holders = []
    for server in gateway.sockets:
        for line in server.log_path.read_text(errors="replace").splitlines():
            entry = json.loads(line) if line.startswith("{") else {}
            if entry.get("user_id") == user_id and entry["message"] == "socket authenticated":
                holders.append(server.kind)
    return holders


def rest_workers_that_sent(tmp: Path) -> set[str]:
    """The pids of the gunicorn workers that answered a message send (deploy's access log format)."""
    lines = (tmp / "rest-access.log").read_text(errors="replace").splitlines()
    return {m.group(1) for line in lines if "POST /api/v1/messages/send" in line if (m := PID.search(line))}


PID = re.compile(r"pid=<(\d+)>")
DELIVERIES = ("message.new", "group.message.new")


async def leftover_deliveries(socket: Socket) -> list[str]:
    """Message ids still arriving on a socket after every expected one was claimed: duplicates."""
    try:
        async with asyncio.timeout(0.5):
            while True:
                socket.unclaimed.append(json.loads(await socket.connection.recv()))
    except TimeoutError:
        pass
    return [frame["data"]["id"] for frame in socket.unclaimed if frame["type"] in DELIVERIES]


async def messages_reach_sockets_on_both_processes(
    gateway: Gateway, sender: Account, group_id: str, sockets: dict[str, Socket]
) -> None:
    front = gateway.nginx
    holders = {user_id: socket_process(gateway, user_id) for user_id in sockets}
    # Each socket on one process, and the two on different ones.
    assert sorted(kind for found in holders.values() for kind in found) == sorted(SOCKET_PROCESSES), holders
    process_of = {user_id: found[0] for user_id, found in holders.items()}
    before_rest = await scrape(gateway.rest)
    before_sockets = {server.kind: await scrape(server) for server in gateway.sockets}

    # One group message: its one publish reaches the sockets on both processes.
    group_body = group_message_body([sender.id, *sockets])
    group_message = await rest_post(front, sender, f"/api/v1/groups/{group_id}/messages", group_body)
    for socket in sockets.values():
        frame = await socket.next_frame("group.message.new", id=group_message["id"])
        assert frame["data"]["encrypted_content"] == group_body["encrypted_content"]

    # 1:1 messages a batch at a time (nginx opens a connection per request; either gunicorn worker
    # accepts it), until both workers have stored some: each reaches its recipient's socket once.
    sent: dict[str, str] = {}  # message id -> recipient id
    recipients = list(sockets)
    headers = {"Authorization": f"Bearer {sender.access}"}
    async with httpx.AsyncClient(base_url=front.url, trust_env=False, timeout=30) as client:
        for _ in range(MAX_BATCHES):
            batch = [recipients[n % len(recipients)] for n in range(BATCH)]
            bodies = [send_body(Recipient(Account(id=user_id, access=""))) for user_id in batch]
            responses = await asyncio.gather(
                *(client.post("/api/v1/messages/send", json=body, headers=headers) for body in bodies)
            )
            for user_id, response in zip(batch, responses, strict=True):
                assert response.status_code == 201, response.text
                sent[response.json()["id"]] = user_id
            await asyncio.sleep(0.2)  # gunicorn writes its access line after the response
            if len(rest_workers_that_sent(gateway.rest.log_path.parent)) >= REST_WORKERS:
                break
    workers = rest_workers_that_sent(gateway.rest.log_path.parent)
    assert len(workers) == REST_WORKERS, f"{len(sent)} sends, all answered by {workers}"
    for message_id, user_id in sent.items():
        await sockets[user_id].next_frame("message.new", id=message_id)
    for socket in sockets.values():
        assert await leftover_deliveries(socket) == []

    # /metrics: the REST pod's counters moved by exactly the messages sent, whichever worker
    # stored them; each ASGI process observed the deliveries to its own sockets, no more.
    after_rest = await scrape(gateway.rest)

    def sent_delta(kind: str) -> float:
        return value(after_rest, "messenger_messages_sent_total", kind=kind) - value(
            before_rest, "messenger_messages_sent_total", kind=kind
        )

    assert (sent_delta("direct"), sent_delta("group")) == (len(sent), 1)
    expected = {
        kind: {
            "message.new": sum(1 for user_id in sent.values() if process_of[user_id] == kind),
            "group.message.new": 1,
        }
        for kind in SOCKET_PROCESSES
    }
    observed: dict[str, dict[str, float]] = {}
    for _ in range(50):  # the consumer records right after its send
        for server in gateway.sockets:
            after = await scrape(server)
            observed[server.kind] = {
                event: value(after, "messenger_delivery_latency_seconds_count", event=event)
                - value(before_sockets[server.kind], "messenger_delivery_latency_seconds_count", event=event)
                for event in DELIVERIES
            }
        if observed == expected:
            break
        await asyncio.sleep(0.1)
    assert observed == expected
