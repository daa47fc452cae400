"""1,000 concurrent WebSockets on one server process: connect time, memory per socket, a 30 s
hold, and one broadcast reaching all of them (issue 9's "Must show").

Usage (a database of your own: it is migrated and emptied; Redis keys get a prefix of this run's
own, removed at the end):

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE messenger_wsbench"
    .venv/bin/python bench/ws_sockets.py                         # 1000 sockets, uvicorn, 30 s
    .venv/bin/python bench/ws_sockets.py --sockets 200 --hold 5  # a quick look
    .venv/bin/python bench/ws_sockets.py --server daphne --output /tmp/ws_daphne.txt

Options: --database-url (default postgres://postgres@127.0.0.1:5432/messenger_wsbench),
--redis-url (default redis://127.0.0.1:6379/0), --connect-concurrency (handshakes in flight at
once, default 100), --no-compression (clients offer no permessage-deflate), --output (default
bench/results/ws_1000.txt; `-` prints only).

What it does:

1. Migrates and flushes the database; seeds N users, an access token for each (as a login mints
   it: accounts.tokens.issue_token_pair) and one chat group holding all N of them (GROUP_MAX_MEMBERS
   is 1,000, the creator included; the creator is the broadcast's sender and holds one of the N
   sockets, which counts: the API gives a sender's own devices the message too).
2. Starts ONE server process in the real mode (production settings, DEBUG off, PostgreSQL,
   Redis cache and channel layer): `uvicorn messenger.asgi:application --ws websockets
   --lifespan off` (or daphne). Waits for /readyz, warms it with one socket and one REST call,
   then reads its VmRSS (/proc/<pid>/status) as "before".
3. Opens N sockets from this process (the `websockets` client), each authenticated by a first
   `auth` frame with its user's access JWT; connect time = from starting the TCP connection to
   receiving `hello`. Ramp = first connect started to last `hello`. VmRSS again ("after"):
   memory per socket = (after - before) / N.
4. Holds them all open for --hold seconds (no traffic; protocol keepalive pings off so that
   nothing but the server keeps them up), then sends an application `ping` on every socket and
   counts the `pong`s: sockets still alive.
5. Broadcast: the creator posts one group message through REST (`POST /groups/{id}/messages`,
   with a wrapped key for each of the N members). Per socket: time from just before the REST
   call to that socket's `group.message.new` with the message's id (p50, p99, max), and how many
   never got it within --broadcast-timeout seconds (missing).

Not a test: the figures depend on the machine. The clients run on the same machine as the server
(and PostgreSQL and Redis), so they take CPU from it; the latency includes the client's own event
loop reading 1,000 frames one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import httpx  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from tests.s3 import free_port, stop_process  # noqa: E402

START_TIMEOUT_SECONDS = 60.0

# Run by `manage.py shell` with the server's environment: the users, their tokens, the group.
SEED = """
import json, os
from django.contrib.auth.hashers import make_password
from django.db import transaction
from accounts.models import User
from accounts.tokens import issue_token_pair
from groups.services import group_create

count, run = int(os.environ["BENCH_USERS"]), os.environ["BENCH_RUN"]
password = make_password(None)  # unusable: these users never log in, they hold a token
users = User.objects.bulk_create(
    User(username=f"ws{run}_{i}", email=f"ws{run}_{i}@bench.invalid", password=password, is_verified=True)
    for i in range(count)
)
with transaction.atomic():
    tokens = [issue_token_pair(user_id=u.pk).access for u in users]
group = group_create(creator_id=users[0].pk, name="bench broadcast", member_ids=[u.pk for u in users[1:]])
print(json.dumps({"user_ids": [str(u.pk) for u in users], "tokens": tokens, "group_id": str(group.pk)}))
"""


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name} for {pid}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def raise_open_files_limit(needed: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))  # the server inherits it
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def server_env(args: argparse.Namespace, prefix: str, work: Path) -> dict[str, str]:
    inherited = ("DATABASE_", "REDIS_", "CELERY_", "S3_", "CACHE_", "CHANNEL_", "RELAY_", "DJANGO_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(inherited)}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "messenger.settings",
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            # This run's own keys: nothing shared with other runs or test sessions on this Redis.
            "CACHE_KEY_PREFIX": prefix,
            "CHANNEL_LAYER_PREFIX": f"{prefix}:asgi",
            "RELAY_REDIS_PREFIX": f"{prefix}:relay",
            # Tasks run in the process (no worker to start, and none of another run's consumes them).
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "MESSAGING_UNREAD_EMAIL_DELAY_SECONDS": "0",
            "VAR_DIR": str(work / "var"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def manage(env: dict[str, str], *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {arguments[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def server_command(kind: str, port: int) -> list[str]:
    if kind == "uvicorn":
        return [
            *(sys.executable, "-m", "uvicorn", "messenger.asgi:application"),
            *("--host", "127.0.0.1", "--port", str(port), "--ws", "websockets", "--lifespan", "off"),
            *("--backlog", "4096"),
        ]
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "messenger.asgi:application"]


def delete_redis_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


@dataclass
class Client:
    """One socket: its connect time, and when each frame of interest arrived."""

    index: int
    user_id: str
    token: str
    connection: ClientConnection | None = None
    connect_seconds: float | None = None
    error: str | None = None
    pongs: int = 0
    # message id (and client_message_id) -> monotonic time its group.message.new/message.new came
    arrivals: dict[str, float] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set on each arrival (bench/run.py)
    reader: asyncio.Task | None = None

    closed: str | None = None  # why the server ended it early, if it did

    async def read(self) -> None:
        assert self.connection is not None
        try:
            async for raw in self.connection:
                frame = json.loads(raw)
                if frame["type"] in ("group.message.new", "message.new"):
                    now = time.monotonic()
                    self.arrivals[frame["data"]["id"]] = now
                    if frame["data"].get("client_message_id"):
                        self.arrivals[frame["data"]["client_message_id"]] = now
                    self.arrived.set()
                elif frame["type"] == "pong":
                    self.pongs += 1
        except ConnectionClosed as exc:
            self.closed = f"{type(exc).__name__}: {exc}"
        else:
            self.closed = "closed by the server"

    async def ping(self) -> None:
        assert self.connection is not None
        with contextlib.suppress(ConnectionClosed):
            await self.connection.send(json.dumps({"type": "ping"}))


async def open_client(client: Client, url: str, gate: asyncio.Semaphore, compression: str | None) -> None:
    async with gate:
        started = time.monotonic()
        try:
            connection = await connect(
                url,
                proxy=None,
                open_timeout=60,
                ping_interval=None,  # nothing but the server keeps the socket up during the hold
                compression=compression,
                max_queue=None,
            )
            await connection.send(json.dumps({"type": "auth", "data": {"token": client.token}}))
            hello = json.loads(await asyncio.wait_for(connection.recv(), timeout=60))
            if hello["type"] != "hello" or hello["data"]["user_id"] != client.user_id:
                raise RuntimeError(f"expected hello, got {hello}")
        except Exception as exc:
            client.error = f"{type(exc).__name__}: {exc}"
            return
        client.connect_seconds = time.monotonic() - started
        client.connection = connection
        client.reader = asyncio.ensure_future(client.read())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def run_bench(args: argparse.Namespace, server_url: str, pid: int, seed: dict) -> dict:
    ws_url = server_url.replace("http://", "ws://") + "/ws/"
    compression = None if args.no_compression else "deflate"
    http = httpx.AsyncClient(base_url=server_url, trust_env=False, timeout=120)
    creator_token = seed["tokens"][0]

    # Warm-up: one socket and one REST call, so "before" includes every lazily loaded module.
    warm = Client(index=-1, user_id=seed["user_ids"][0], token=creator_token)
    await open_client(warm, ws_url, asyncio.Semaphore(1), compression)
    if warm.error:
        raise RuntimeError(f"warm-up socket failed: {warm.error}")
    assert warm.connection is not None
    await warm.connection.close()
    response = await http.get(
        f"/api/v1/groups/{seed['group_id']}", headers={"Authorization": f"Bearer {creator_token}"}
    )
    response.raise_for_status()
    await asyncio.sleep(2)
    rss_before = rss_kib(pid)

    clients = [
        Client(index=i, user_id=u, token=t)
        for i, (u, t) in enumerate(zip(seed["user_ids"], seed["tokens"], strict=True))
    ]
    gate = asyncio.Semaphore(args.connect_concurrency)
    ramp_started = time.monotonic()
    await asyncio.gather(*(open_client(c, ws_url, gate, compression) for c in clients))
    ramp_seconds = time.monotonic() - ramp_started
    connected = [c for c in clients if c.connection is not None]
    errors = sorted({c.error for c in clients if c.error})
    await asyncio.sleep(2)  # let the server settle (presence hooks, GC) before reading memory
    rss_after = rss_kib(pid)
    print(f"{len(connected)}/{len(clients)} connected in {ramp_seconds:.2f}s", flush=True)

    await asyncio.sleep(args.hold)
    rss_held = rss_kib(pid)
    closed_during_hold = sorted({c.closed for c in connected if c.closed})
    for c in connected:
        await c.ping()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(c.pongs > 0 for c in connected) < len(connected):
        await asyncio.sleep(0.05)
    alive = sum(c.pongs > 0 for c in connected)
    if closed_during_hold:
        print(f"closed by the server during the hold: {closed_during_hold[:3]}", flush=True)
    print(f"{alive}/{len(connected)} answered ping after {args.hold}s", flush=True)

    keys = {uid: base64.b64encode(os.urandom(32)).decode() for uid in seed["user_ids"]}
    body = {
        "encrypted_content": base64.b64encode(os.urandom(256)).decode(),
        "encrypted_session_keys": keys,
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes-256-gcm",
        "client_message_id": str(uuid.uuid4()),
    }
    encoded = json.dumps(body)
    headers = {"Authorization": f"Bearer {creator_token}", "Content-Type": "application/json"}
    started = time.monotonic()
    response = await http.post(
        f"/api/v1/groups/{seed['group_id']}/messages", content=encoded, headers=headers
    )
    rest_seconds = time.monotonic() - started
    if response.status_code != 201:
        raise RuntimeError(f"broadcast refused: {response.status_code} {response.text[:500]}")
    message_id = response.json()["id"]
    deadline = started + args.broadcast_timeout
    while time.monotonic() < deadline and sum(message_id in c.arrivals for c in connected) < len(connected):
        await asyncio.sleep(0.01)
    latencies = [c.arrivals[message_id] - started for c in connected if message_id in c.arrivals]
    missing = len(clients) - len(latencies)
    rss_broadcast = rss_kib(pid)
    hwm = rss_kib(pid, "VmHWM")

    for c in connected:
        assert c.connection is not None
        await c.connection.close()
    for c in connected:
        if c.reader is not None:
            c.reader.cancel()
    await http.aclose()

    connect_times = [c.connect_seconds for c in connected if c.connect_seconds is not None]
    return {
        "sockets": len(clients),
        "connected": len(connected),
        "connect_errors": errors[:5],
        "ramp_seconds": ramp_seconds,
        "connect_p50": percentile(connect_times, 50) if connect_times else None,
        "connect_p99": percentile(connect_times, 99) if connect_times else None,
        "connect_max": max(connect_times) if connect_times else None,
        "connect_mean": statistics.fmean(connect_times) if connect_times else None,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_held_kib": rss_held,
        "rss_broadcast_kib": rss_broadcast,
        "hwm_kib": hwm,
        "alive_after_hold": alive,
        "closed_during_hold": closed_during_hold[:3],
        "broadcast_body_bytes": len(encoded),
        "broadcast_rest_seconds": rest_seconds,
        "delivered": len(latencies),
        "missing": missing,
        "latency_p50": percentile(latencies, 50) if latencies else None,
        "latency_p99": percentile(latencies, 99) if latencies else None,
        "latency_max": max(latencies) if latencies else None,
        "latency_min": min(latencies) if latencies else None,
    }


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(memory) // 1024} MiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}; uvicorn {version('uvicorn')}, daphne {version('daphne')}, "
        f"websockets {version('websockets')}, channels {version('channels')}, "
        f"channels_redis {version('channels_redis')}"
    )


def report(args: argparse.Namespace, command: str, r: dict) -> str:
    per_socket_kib = (r["rss_after_kib"] - r["rss_before_kib"]) / max(r["connected"], 1)
    lines = [
        f"bench/ws_sockets.py: {r['sockets']} concurrent WebSockets on one {args.server} process "
        f"(real mode: PostgreSQL + Redis channel layer)",
        f"machine: {machine()}; shared with other engineers' test runs; clients, server, PostgreSQL",
        "and Redis all on this machine (the clients' CPU is taken from the server's two cores).",
        "",
        f"    {command}",
        "",
        f"server: {' '.join(server_command(args.server, 0)[1:]).replace(' --port 0', '')}",
        f"auth: first `auth` frame with an access JWT; client compression: "
        f"{'none' if args.no_compression else 'permessage-deflate offered (as browsers do)'}; "
        f"{args.connect_concurrency} handshakes in flight at most",
        "",
        "connect (TCP connect -> `hello`, per socket)",
        f"  connected        {r['connected']}/{r['sockets']}"
        + (f"  errors: {r['connect_errors']}" if r["connect_errors"] else ""),
        f"  p50              {ms(r['connect_p50'])}",
        f"  p99              {ms(r['connect_p99'])}",
        f"  max              {ms(r['connect_max'])}",
        f"  ramp (all)       {r['ramp_seconds']:.2f} s  ({r['connected'] / r['ramp_seconds']:.0f} sockets/s)",
        "",
        "server memory (VmRSS of the server process)",
        f"  before           {r['rss_before_kib'] / 1024:.1f} MiB  (after a warm-up socket and REST call)",
        f"  after connect    {r['rss_after_kib'] / 1024:.1f} MiB",
        f"  per socket       {per_socket_kib:.1f} KiB  ((after - before) / {r['connected']})",
        f"  after {args.hold:g} s hold  {r['rss_held_kib'] / 1024:.1f} MiB",
        f"  after broadcast  {r['rss_broadcast_kib'] / 1024:.1f} MiB  (VmHWM {r['hwm_kib'] / 1024:.1f} MiB)",
        "",
        f"hold: {args.hold:g} s without traffic; then an application `ping` on each socket:",
        f"  alive (pong)     {r['alive_after_hold']}/{r['connected']}"
        + (f"  closed early: {r['closed_during_hold']}" if r["closed_during_hold"] else ""),
        "",
        f"broadcast: one group message through REST (POST /groups/{{id}}/messages, {r['broadcast_body_bytes']:,} "
        f"bytes: a wrapped key per member) to a group of {r['sockets']} members, all holding one socket (the sender too);",
        "latency per socket from just before the REST call to its `group.message.new`",
        f"  delivered        {r['delivered']}/{r['sockets']}   missing {r['missing']} (after {args.broadcast_timeout:g} s)",
        f"  p50              {ms(r['latency_p50'])}",
        f"  p99              {ms(r['latency_p99'])}",
        f"  max              {ms(r['latency_max'])}",
        f"  min              {ms(r['latency_min'])}",
        f"  REST call        {ms(r['broadcast_rest_seconds'])}  (201 received; the fan-out is published on commit, inside it)",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds to hold every socket open")
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/messenger_wsbench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("--no-compression", action="store_true")
    parser.add_argument("--broadcast-timeout", type=float, default=30.0)
    parser.add_argument("--output", default=str(BASE_DIR / "bench" / "results" / "ws_1000.txt"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (server log)")
    args = parser.parse_args()
    if not 1 <= args.sockets <= 1000:
        parser.error("--sockets: 1 to 1000 (one group holds them all; GROUP_MAX_MEMBERS is 1000)")
    command = ".venv/bin/python bench/ws_sockets.py " + " ".join(sys.argv[1:])

    limits = raise_open_files_limit(args.sockets * 2 + 256)  # client and server sides, plus slack
    print(f"RLIMIT_NOFILE {limits}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="ws-sockets-"))
    prefix = f"bench-ws-{uuid.uuid4().hex[:12]}"
    env = server_env(args, prefix, work)
    process = None
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "flush", "--noinput")
        started = time.monotonic()
        seed_env = {**env, "BENCH_USERS": str(args.sockets), "BENCH_RUN": uuid.uuid4().hex[:6]}
        seed = json.loads(manage(seed_env, "shell", "-c", SEED).strip().splitlines()[-1])
        print(
            f"seeded {args.sockets} users, tokens and a group in {time.monotonic() - started:.1f}s",
            flush=True,
        )

        port = free_port()
        log_path = work / f"{args.server}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                server_command(args.server, port), cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args.server} did not come up:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.2)

        results = asyncio.run(run_bench(args, url, process.pid, seed))
        if process.poll() is not None:
            raise RuntimeError(f"{args.server} died:\n{log_path.read_text()[-4000:]}")
        text = report(args, command, results)
        print()
        print(text)
        errors = [line for line in log_path.read_text(errors="replace").splitlines() if "ERROR" in line]
        if errors:
            print(f"server log: {len(errors)} ERROR lines, first: {errors[0][:300]}")
        if args.output != "-":
            Path(args.output).write_text(text)
            print(f"written to {args.output}")
    finally:
        if process is not None:
            stop_process(process)
        delete_redis_keys(args.redis_url, prefix)
        if args.keep:
            print(f"logs in {work}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
