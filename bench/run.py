"""The benchmark of issue 15: `make bench` (full) and `make bench-smoke` (CI). See bench/README.md.

    .venv/bin/python bench/run.py                          # deploy topology, every workload
    .venv/bin/python bench/run.py --topology both          # deploy, then `make run`'s server
    .venv/bin/python bench/run.py --smoke                  # seconds: does every workload still run?
    .venv/bin/python bench/run.py --only send,history --duration 3
    .venv/bin/python bench/run.py --sockets 10000          # adds the many-sockets workload

What one run does:

1. Creates its own PostgreSQL database (--database-url, default messenger_bench) if missing,
   migrates it under bench.settings (production's settings plus the floor app and lifted rate
   limits; `--run-syncdb` creates the floor's table) and empties it. Redis keys get a prefix of
   this run's own (cache, channel layer, relay, presence, the Celery broker's queues), deleted at
   the end. moto's S3 server (tests/s3.py) holds the media.
2. For each topology: seeds users (an access token each), pairs, conversations with history,
   groups (through the services), starts the servers as real processes on free loopback ports,
   each in its own process group, and waits for /readyz:
   - deploy: gunicorn `messenger.wsgi` (2 workers x 8 gthreads, as deploy/compose.yaml) for REST,
     uvicorn `messenger.asgi` for /ws/ (a second one with --sockets);
   - makerun: `make run` itself (its uvicorn processes serve REST and /ws/ on one port), DEBUG off.
   Production settings everywhere (DEBUG off, real PostgreSQL and Redis); Celery tasks are
   published to the prefixed Redis queue as in production and left there (no worker runs).
3. Runs each workload closed-loop (every client sends its next request when the previous one is
   answered), over a new connection per request (as nginx talks to its upstreams), after a
   warm-up, in --repeat windows of --duration seconds; each figure is the median of the windows.
   Each workload's floor (a bare DRF endpoint inserting one row, a bare DRF page of 50 rows, on
   the same servers, bench/floor/) is measured right next to it at the same concurrency.
4. Prints a table (workload, figure, target, met?, ratio to the floor) and writes it, with the
   machine and the commands, to bench/results/<YYYY-MM-DD>.md (or --out; the smoke writes
   nothing unless given --out). Every server it started is stopped (also on Ctrl-C, SIGTERM, a
   failure or the --timeout), its Redis keys deleted.

The smoke runs each workload for about a second on small groups and judges no target; it fails
(exit 1) only when a workload could not run: no successful request, or an error answer.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import httpx  # noqa: E402

from bench import http1  # noqa: E402
from bench.profile import Profiler  # noqa: E402
from bench.upload_memory import BOUNDARY, MIB, Sampler, multipart_body, reset_peak  # noqa: E402
from bench.ws_sockets import (  # noqa: E402
    Client,
    delete_redis_keys,
    machine,
    open_client,
    percentile,
    raise_open_files_limit,
    rss_kib,
    server_env,
)
from tests.s3 import free_port, start_moto_server, stop_process  # noqa: E402

WORKLOADS = ("send", "send-serial", "history", "delivery", "group-send", "broadcast", "upload", "sockets")
START_TIMEOUT_SECONDS = 120.0  # `make run` migrates before it serves
REQUEST_TIMEOUT_SECONDS = 30.0
FLOOR_PATH = "/api/v1/bench-floor/rows"  # bench/urls.py
CIPHERTEXT_BYTES = 256  # a short text message's ciphertext
KEY_BYTES = 48  # a wrapped session key

# The deploy topology's REST server, as deploy/compose.yaml's `web` runs it.
# deploy/'s own gunicorn settings (workers, worker class, threads, access log), so that the benchmark
# measures what is deployed; GUNICORN_WORKERS / GUNICORN_THREADS / GUNICORN_WORKER_CLASS in the
# environment change them here as there.
GUNICORN_CONFIG = "deploy/gunicorn.conf.py"


# --- What a run measures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    pairs: int  # concurrent 1:1 senders, each to its own recipient
    history_clients: int  # concurrent readers, each of its own conversation
    history_messages: int  # seeded per read conversation (and floor rows per reader)
    group_members: int  # per group of the group-send workload
    group_clients: int  # concurrent group senders, each to its own group
    broadcast_members: int  # the broadcast group, every member holding a socket
    upload_mib: int
    warmup: float  # seconds, per workload, not counted
    duration: float  # seconds per window
    repeat: int  # windows; figures are their median
    sockets_hold: float  # seconds the --sockets workload holds its sockets idle

    @property
    def users(self) -> int:
        return max(2 * self.pairs, self.group_members * self.group_clients, self.broadcast_members, 2)


FULL = Plan(
    pairs=64,
    history_clients=16,
    history_messages=60,
    group_members=200,
    group_clients=4,
    broadcast_members=1000,
    upload_mib=100,
    warmup=2.0,
    duration=3.0,
    repeat=3,
    sockets_hold=30.0,
)
SMOKE = Plan(
    pairs=4,
    history_clients=2,
    history_messages=5,
    group_members=10,
    group_clients=2,
    broadcast_members=20,
    upload_mib=4,
    warmup=0.3,
    duration=1.0,
    repeat=1,
    sockets_hold=1.0,
)


@dataclass(frozen=True)
class Target:
    """`value <= limit` (a latency, memory, CPU) or `value >= limit` (a rate)."""

    limit: float
    higher_is_better: bool
    text: str

    def met(self, value: float) -> bool:
        return value >= self.limit if self.higher_is_better else value <= self.limit


@dataclass
class Row:
    workload: str
    figure: str
    value: float | None
    unit: str
    target: Target | None = None
    floor: float | None = None  # the same figure on the floor endpoint, same concurrency
    note: str = ""

    @property
    def higher_is_better(self) -> bool:
        return self.unit.endswith("/s")

    def ratio_to_floor(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor


class WorkloadFailed(RuntimeError):
    """A workload could not run (no answer, error answers): the smoke fails on it."""


# --- Processes --------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    command: list[str]
    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def serving_pids(self) -> list[int]:
        """The processes that handle requests: gunicorn's workers, `make run`'s uvicorn."""
        found = []
        pending = [self.process.pid]
        while pending:
            pid = pending.pop()
            with contextlib.suppress(OSError):
                for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                    pending.append(int(child))
                    found.append(int(child))
        python = [pid for pid in found if _is_python_server(pid)]
        return python or [self.process.pid]


def _is_python_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # uvicorn's --workers (make run with REDIS_URL) are multiprocessing children: `-c ...spawn_main(...)`.
    return any(b"python" in part for part in cmdline[:1]) and any(
        part in (b"uvicorn", b"gunicorn") or b"spawn_main" in part for part in cmdline
    )


def start_server(name: str, command: list[str], port: int, env: dict[str, str], work: Path) -> Server:
    log_path = work / f"{name}.log"
    with log_path.open("ab") as log:
        # Its own process group: stop_server ends it and every child (gunicorn's workers, make's
        # uvicorn), and a Ctrl-C in the terminal reaches only this harness, which stops them.
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(
        name=name, command=command, url=f"http://127.0.0.1:{port}", process=process, log_path=log_path
    )


def wait_ready(servers: list[Server]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    for server in servers:
        while True:
            try:
                if httpx.get(f"{server.url}/readyz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not come up:\n{server.log_tail()}")
            time.sleep(0.2)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=10)
    # Whatever is left of the group (a worker that outlived its master, make's child).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=10)


def uvicorn_command(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "uvicorn", "messenger.asgi:application"),
        *("--host", "127.0.0.1", "--port", str(port), "--ws", "websockets", "--lifespan", "off"),
        *("--ws-per-message-deflate", "false"),
        *("--backlog", "4096"),
    ]


def gunicorn_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        GUNICORN_CONFIG,
        "messenger.wsgi",
        "-b",
        f"127.0.0.1:{port}",
    ]


def gunicorn_settings() -> str:
    """What deploy/gunicorn.conf.py amounts to in this environment, for the report."""
    import runpy

    conf = runpy.run_path(str(BASE_DIR / GUNICORN_CONFIG))
    threads = f" x {conf['threads']} threads" if conf["worker_class"] == "gthread" else ""
    return f"{conf['workers']} {conf['worker_class']} workers{threads}"


def makerun_command(port: int) -> list[str]:
    # `make run` itself, so the benchmark follows the README's command wherever it goes; `-o`
    # skips its install step (the venv running this is the one it would install).
    return ["make", "--no-print-directory", "-o", ".venv/.installed", "run", "HOST=127.0.0.1", f"PORT={port}"]


@dataclass
class Topology:
    name: str
    rest: Server
    ws: list[Server]  # one for /ws/; a second with --sockets (deploy)
    servers: list[Server] = field(default_factory=list)


def start_topology(name: str, env: dict[str, str], work: Path, sockets: bool, attempts: int = 3) -> Topology:
    """The topology's servers, up; tried again on new ports if one does not come up (another
    process may take a port between free_port() and the server's bind)."""
    for attempt in range(1, attempts + 1):
        try:
            return _start_topology(name, env, work, sockets)
        except RuntimeError as exc:
            if attempt == attempts:
                raise
            print(f"[{name}] {str(exc)[:300]}; trying again", flush=True)
    raise AssertionError("unreachable")


def _start_topology(name: str, env: dict[str, str], work: Path, sockets: bool) -> Topology:
    started: list[Server] = []
    try:
        if name == "deploy":
            port = free_port()
            started.append(start_server("gunicorn", gunicorn_command(port), port, env, work))
            for index in range(2 if sockets else 1):
                port = free_port()
                started.append(start_server(f"uvicorn-{index + 1}", uvicorn_command(port), port, env, work))
            wait_ready(started)
            return Topology(name, rest=started[0], ws=started[1:], servers=started)
        port = free_port()
        started.append(start_server("make-run", makerun_command(port), port, env, work))
        wait_ready(started)
        return Topology(name, rest=started[0], ws=started[:1], servers=started)
    except BaseException:
        for server in started:
            stop_server(server)
        raise


# --- Database, Redis, seed ------------------------------------------------------------------------


def ensure_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict[str, str], *arguments: str, extra: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=BASE_DIR,
        env={**env, **(extra or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"manage.py {arguments[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


# Run by `manage.py shell` under the servers' environment. Users (an access token each, as a login
# mints it), groups through groups' service, history through messaging's service, floor rows.
SEED = """
import base64, json, os
from django.contrib.auth.hashers import make_password
from django.db import transaction
from accounts.models import User
from accounts.tokens import issue_token_pair
from bench.floor.models import FloorRow
from groups.services import group_create
from messaging.services import message_send

plan = json.loads(os.environ["BENCH_SEED"])
run = plan["run"]
password = make_password(None)  # unusable: these users never log in, they hold a token
users = User.objects.bulk_create(
    User(username=f"b{run}_{i}", email=f"b{run}_{i}@bench.invalid", password=password, is_verified=True)
    for i in range(plan["users"])
)
ids = [u.pk for u in users]
with transaction.atomic():
    tokens = [issue_token_pair(user_id=pk).access for pk in ids]
size = plan["group_members"]
groups = [
    str(group_create(creator_id=ids[g * size], name=f"bench {g}", member_ids=ids[g * size + 1:(g + 1) * size]).pk)
    for g in range(plan["group_clients"])
]
broadcast = group_create(creator_id=ids[0], name="bench broadcast", member_ids=ids[1:plan["broadcast_members"]])
with transaction.atomic():  # one commit for the lot: seeding is not what is measured
    for p in range(plan["history_clients"]):
        reader, peer = ids[2 * p], ids[2 * p + 1]
        for k in range(plan["history_messages"]):
            sender, recipient = (reader, peer) if k % 2 == 0 else (peer, reader)
            message_send(
                sender_id=sender, recipient_id=recipient, encrypted_content=os.urandom(plan["ciphertext_bytes"]),
                encrypted_session_key=os.urandom(plan["key_bytes"]), sender_encrypted_session_key=os.urandom(plan["key_bytes"]),
                crypto_version="1", encryption_algorithm="x25519-aes-256-gcm", client_message_id=None, attachment_ids=[],
            )
        # Each reader's floor page as full as its conversation (not only the last reader's: a
        # history run without the send workload's floor inserts read empty pages).
        FloorRow.objects.bulk_create(
            FloorRow(owner_id=reader, body=base64.b64encode(os.urandom(plan["ciphertext_bytes"])).decode())
            for _ in range(plan["history_messages"])
        )
print(json.dumps({
    "ids": [str(pk) for pk in ids], "tokens": tokens, "groups": groups, "broadcast": str(broadcast.pk),
}))
"""


@dataclass(frozen=True)
class Seed:
    ids: list[str]
    tokens: list[str]
    groups: list[str]  # group g: members ids[g*size:(g+1)*size], created by ids[g*size]
    broadcast: str  # members ids[:broadcast_members], created by ids[0]


def seed(env: dict[str, str], plan: Plan, users: int) -> Seed:
    spec = {
        "run": uuid.uuid4().hex[:6],
        "users": users,
        "group_members": plan.group_members,
        "group_clients": plan.group_clients,
        "broadcast_members": plan.broadcast_members,
        "history_clients": plan.history_clients,
        "history_messages": plan.history_messages,
        "ciphertext_bytes": CIPHERTEXT_BYTES,
        "key_bytes": KEY_BYTES,
    }
    output = manage(env, "shell", "-c", SEED, extra={"BENCH_SEED": json.dumps(spec)})
    return Seed(**json.loads(output.strip().splitlines()[-1]))


def bench_env(args: argparse.Namespace, prefix: str, work: Path, s3_env: dict[str, str]) -> dict[str, str]:
    env = server_env(args, prefix, work)  # production settings, DEBUG off, this run's Redis prefixes
    env.pop("MESSAGING_UNREAD_EMAIL_DELAY_SECONDS", None)  # production's: a cache add per send
    (work / "tmp").mkdir(exist_ok=True)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "REALTIME_PRESENCE_REDIS_PREFIX": f"{prefix}:presence",
            # Published to Redis as in production, under this run's prefix (bench/settings.py); no
            # worker consumes them and the keys go at the end.
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "BENCH_CELERY_KEY_PREFIX": f"{prefix}:celery:",
            "JWT_ACCESS_MINUTES": "240",  # the seeded tokens outlive the run
            "MEDIA_MAX_UPLOAD_BYTES": str(max(args.plan.upload_mib * MIB + MIB, 100 * MIB)),
            "TMPDIR": str(work / "tmp"),  # where uploads spool
            **s3_env,
        }
    )
    return env


# --- The load client ----------------------------------------------------------------------------------


@dataclass
class Window:
    ok: int
    errors: int
    latencies: list[float]
    seconds: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


@dataclass
class LoopResult:
    windows: list[Window]
    first_error: str | None
    client_cpu: float  # cores the load client itself used while it ran (of the machine's 2)

    def median(self, pick: Callable[[Window], float | None]) -> float | None:
        values = [v for v in (pick(w) for w in self.windows) if v is not None]
        return statistics.median(values) if values else None

    @property
    def errors(self) -> int:
        return sum(w.errors for w in self.windows)

    def rate(self) -> float | None:
        return self.median(lambda w: w.rate)

    def p(self, q: float) -> float | None:
        return self.median(lambda w: percentile(w.latencies, q) * 1000 if w.latencies else None)


Request = Callable[[int], Awaitable[None]]  # raises (or asserts) when the answer is not the expected one


async def closed_loop(request: Request, concurrency: int, plan: Plan) -> LoopResult:
    """`concurrency` clients, each sending its next request when the previous one is answered,
    for warm-up + repeat x duration; samples are binned into windows by their completion time."""
    samples: list[tuple[float, float, bool]] = []
    errors: list[str] = []
    started = time.monotonic()
    measure_from = started + plan.warmup
    until = measure_from + plan.repeat * plan.duration

    async def client(index: int) -> None:
        while True:
            t0 = time.monotonic()
            if t0 >= until:
                return
            try:
                await request(index)
                ok = True
            except Exception as exc:  # an answer that is not the expected one, or no answer
                ok = False
                if not errors:
                    errors.append(f"{type(exc).__name__}: {exc}"[:500])
            samples.append((t0, time.monotonic(), ok))

    cpu = time.process_time()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    client_cpu = (time.process_time() - cpu) / (time.monotonic() - started)
    windows = []
    for k in range(plan.repeat):
        low, high = measure_from + k * plan.duration, measure_from + (k + 1) * plan.duration
        inside = [(t0, t1, ok) for t0, t1, ok in samples if low <= t1 < high]
        windows.append(
            Window(
                ok=sum(ok for *_, ok in inside),
                errors=sum(not ok for *_, ok in inside),
                latencies=[t1 - t0 for t0, t1, ok in inside if ok],
                seconds=plan.duration,
            )
        )
    return LoopResult(windows=windows, first_error=errors[0] if errors else None, client_cpu=client_cpu)


def check(name: str, result: LoopResult) -> None:
    if result.first_error or not any(w.ok for w in result.windows):
        raise WorkloadFailed(
            f"{name}: {result.errors} errors, first: {result.first_error or 'no request answered'}"
        )


def http_client(base_url: str) -> http1.Client:
    # A new connection per request, as nginx opens one per request to its upstreams by default.
    return http1.Client(base_url, timeout=REQUEST_TIMEOUT_SECONDS)


def b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


def expect(response: Any, status: int) -> Any:  # an httpx.Response or an http1.Response
    if response.status_code != status:
        what = (
            f"{response.request.method} {response.request.url.path}"
            if isinstance(response, httpx.Response)
            else response.what
        )
        raise AssertionError(f"{what}: {response.status_code} {response.text[:300]}")
    return response


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


class Templates:
    """Request bodies built once; each request only swaps in a fresh client_message_id."""

    MARK = "00000000-0000-4000-8000-00000000cafe"

    def __init__(self, seed: Seed, plan: Plan) -> None:
        self.send = {
            index: json.dumps(
                {
                    "recipient_id": seed.ids[2 * index + 1],
                    "encrypted_content": b64(CIPHERTEXT_BYTES),
                    "encrypted_session_key": b64(KEY_BYTES),
                    "sender_encrypted_session_key": b64(KEY_BYTES),
                    "crypto_version": "1",
                    "encryption_algorithm": "x25519-aes-256-gcm",
                    "client_message_id": self.MARK,
                }
            )
            for index in range(plan.pairs)
        }
        self.floor = json.dumps({"body": b64(CIPHERTEXT_BYTES)})

    @classmethod
    def group_body(cls, member_ids: list[str]) -> str:
        return json.dumps(
            {
                "encrypted_content": b64(CIPHERTEXT_BYTES),
                "encrypted_session_keys": {member: b64(KEY_BYTES) for member in member_ids},
                "crypto_version": "1",
                "encryption_algorithm": "x25519-aes-256-gcm",
                "client_message_id": cls.MARK,
            }
        )

    @classmethod
    def fresh(cls, template: str) -> tuple[str, str]:
        client_message_id = str(uuid.uuid4())
        return template.replace(cls.MARK, client_message_id), client_message_id


# --- Workloads ---------------------------------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    plan: Plan
    topology: Topology
    seed: Seed
    templates: Templates
    work: Path  # the run's temporary folder (server logs, --profile's samples)
    profiles: dict[str, list[str]] = field(default_factory=dict)  # workload -> its --profile summary

    @property
    def rest_url(self) -> str:
        return self.topology.rest.url

    @property
    def ws_url(self) -> str:
        return self.topology.ws[0].url.replace("http://", "ws://") + "/ws/"


async def floor_insert(ctx: Context, concurrency: int) -> LoopResult:
    async with http_client(ctx.rest_url) as http:

        async def request(index: int) -> None:
            expect(
                await http.post(
                    FLOOR_PATH, content=ctx.templates.floor, headers=auth(ctx.seed.tokens[2 * index])
                ),
                201,
            )

        result = await closed_loop(request, concurrency, ctx.plan)
    check(f"floor insert c={concurrency}", result)
    return result


async def sends(ctx: Context, concurrency: int) -> LoopResult:
    async with http_client(ctx.rest_url) as http:

        async def request(index: int) -> None:
            body, _ = Templates.fresh(ctx.templates.send[index])
            expect(
                await http.post(
                    "/api/v1/messages/send", content=body, headers=auth(ctx.seed.tokens[2 * index])
                ),
                201,
            )

        result = await closed_loop(request, concurrency, ctx.plan)
    check(f"send c={concurrency}", result)
    return result


def loop_note(result: LoopResult, floor: LoopResult | None = None) -> str:
    note = f"client CPU {result.client_cpu:.2f} cores"
    if floor is not None:
        note += f" (floor's run {floor.client_cpu:.2f})"
    return note


async def workload_send(ctx: Context) -> list[Row]:
    c = ctx.plan.pairs
    floor = await floor_insert(ctx, c)
    result = await sends(ctx, c)
    name = f"1:1 send, c={c}"
    return [
        Row(
            name,
            "throughput",
            result.rate(),
            "req/s",
            Target(300, True, ">= 300/s (stretch 500)"),
            floor.rate(),
            loop_note(result, floor),
        ),
        Row(name, "p50", result.p(50), "ms", None, floor.p(50)),
        Row(name, "p99", result.p(99), "ms", Target(400, False, "<= 400 ms"), floor.p(99)),
    ]


async def workload_send_serial(ctx: Context) -> list[Row]:
    floor = await floor_insert(ctx, 1)
    result = await sends(ctx, 1)
    name = "1:1 send, serial (c=1)"
    return [
        Row(
            name,
            "p50",
            result.p(50),
            "ms",
            Target(5, False, "<= 5 ms"),
            floor.p(50),
            loop_note(result, floor),
        ),
        Row(name, "p99", result.p(99), "ms", None, floor.p(99)),
        Row(name, "throughput", result.rate(), "req/s", None, floor.rate()),
    ]


async def workload_history(ctx: Context) -> list[Row]:
    c = ctx.plan.history_clients
    async with http_client(ctx.rest_url) as http:

        async def floor_request(index: int) -> None:
            response = expect(
                await http.get(FLOOR_PATH, params={"limit": 50}, headers=auth(ctx.seed.tokens[2 * index])),
                200,
            )
            assert response.json()["results"], "an empty floor page"

        async def request(index: int) -> None:
            response = expect(
                await http.get(
                    f"/api/v1/messages/conversation/{ctx.seed.ids[2 * index + 1]}",
                    params={"limit": 50},
                    headers=auth(ctx.seed.tokens[2 * index]),
                ),
                200,
            )
            assert response.json()["results"], "an empty history page"

        floor = await closed_loop(floor_request, c, ctx.plan)
        check(f"floor page c={c}", floor)
        result = await closed_loop(request, c, ctx.plan)
        check(f"history c={c}", result)
    name = f"history page of {min(50, ctx.plan.history_messages)}, c={c}"
    return [
        Row(
            name,
            "throughput",
            result.rate(),
            "req/s",
            Target(300, True, ">= 300/s"),
            floor.rate(),
            loop_note(result, floor),
        ),
        Row(name, "p50", result.p(50), "ms", None, floor.p(50)),
        Row(name, "p99", result.p(99), "ms", None, floor.p(99)),
    ]


async def connect_sockets(clients: list[Client], urls: list[str], gate: int = 100) -> float:
    """Opens every client's socket (client i on urls[i % len(urls)]); the ramp's seconds."""
    semaphore = asyncio.Semaphore(gate)
    started = time.monotonic()
    await asyncio.gather(
        *(open_client(c, urls[i % len(urls)], semaphore, "deflate") for i, c in enumerate(clients))
    )
    errors = sorted({c.error for c in clients if c.error})
    if errors:
        raise WorkloadFailed(f"{len([c for c in clients if c.error])} sockets failed to open: {errors[:3]}")
    return time.monotonic() - started


async def close_sockets(clients: list[Client]) -> None:
    for c in clients:
        if c.connection is not None:
            with contextlib.suppress(Exception):
                await c.connection.close()
        if c.reader is not None:
            c.reader.cancel()


async def workload_delivery(ctx: Context) -> list[Row]:
    """Serial: a REST send, timed from just before the POST until the recipient's socket has
    its message.new (matched by client_message_id)."""
    recipient = Client(index=1, user_id=ctx.seed.ids[1], token=ctx.seed.tokens[1])
    await connect_sockets([recipient], [ctx.ws_url])
    try:
        async with http_client(ctx.rest_url) as http:

            async def request(index: int) -> None:
                body, client_message_id = Templates.fresh(ctx.templates.send[0])
                expect(
                    await http.post("/api/v1/messages/send", content=body, headers=auth(ctx.seed.tokens[0])),
                    201,
                )
                deadline = time.monotonic() + 5
                while client_message_id not in recipient.arrivals:
                    recipient.arrived.clear()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or recipient.closed:
                        raise AssertionError(
                            f"message.new not delivered within 5 s ({recipient.closed or 'open'})"
                        )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(recipient.arrived.wait(), remaining)

            result = await closed_loop(request, 1, ctx.plan)
    finally:
        await close_sockets([recipient])
    check("delivery", result)
    name = "REST send -> recipient's socket, serial"
    return [
        Row(name, "p50", result.p(50), "ms", Target(8, False, "<= 8 ms"), None, loop_note(result)),
        Row(name, "p99", result.p(99), "ms", Target(20, False, "<= 20 ms")),
    ]


async def workload_group_send(ctx: Context) -> list[Row]:
    c, size = ctx.plan.group_clients, ctx.plan.group_members
    bodies = [Templates.group_body(ctx.seed.ids[g * size : (g + 1) * size]) for g in range(c)]
    floor = await floor_insert(ctx, c)
    async with http_client(ctx.rest_url) as http:

        async def request(index: int) -> None:
            body, _ = Templates.fresh(bodies[index])
            expect(
                await http.post(
                    f"/api/v1/groups/{ctx.seed.groups[index]}/messages",
                    content=body,
                    headers=auth(ctx.seed.tokens[index * size]),
                ),
                201,
            )

        result = await closed_loop(request, c, ctx.plan)
    check(f"group send c={c}", result)
    name = f"group send to {size} members, c={c}"
    return [
        Row(
            name,
            "throughput",
            result.rate(),
            "req/s",
            Target(100, True, ">= 100/s"),
            floor.rate(),
            loop_note(result, floor),
        ),
        Row(name, "p99", result.p(99), "ms", None, floor.p(99)),
    ]


async def broadcast_once(
    http: http1.Client, seed: Seed, body: str, clients: list[Client], timeout: float
) -> tuple[list[float], int]:
    """One group message through REST; per socket, seconds from just before the POST until its
    group.message.new; and how many sockets never got it."""
    body, _ = Templates.fresh(body)
    started = time.monotonic()
    response = expect(
        await http.post(
            f"/api/v1/groups/{seed.broadcast}/messages", content=body, headers=auth(seed.tokens[0])
        ),
        201,
    )
    message_id = response.json()["id"]
    deadline = started + timeout
    while time.monotonic() < deadline and not all(message_id in c.arrivals for c in clients):
        await asyncio.sleep(0.005)
    latencies = [c.arrivals[message_id] - started for c in clients if message_id in c.arrivals]
    return latencies, len(clients) - len(latencies)


async def broadcasts(
    ctx: Context, clients: list[Client], members: list[str], rounds: int
) -> tuple[list[float], list[float], int]:
    """A warm-up broadcast, then `rounds`: each round's p99 and max (ms), and the sockets missed."""
    body = Templates.group_body(members)
    p99s, maxima, missing = [], [], 0
    async with http_client(ctx.rest_url) as http:
        await broadcast_once(http, ctx.seed, body, clients, 30)
        for _ in range(rounds):
            await asyncio.sleep(0.5)
            latencies, lost = await broadcast_once(http, ctx.seed, body, clients, 30)
            missing += lost
            if latencies:
                p99s.append(percentile(latencies, 99) * 1000)
                maxima.append(max(latencies) * 1000)
    if missing or not p99s:
        raise WorkloadFailed(f"broadcast: {missing} deliveries missing after 30 s")
    return p99s, maxima, missing


async def workload_broadcast(ctx: Context) -> list[Row]:
    n = ctx.plan.broadcast_members
    members = ctx.seed.ids[:n]
    clients = [Client(index=i, user_id=members[i], token=ctx.seed.tokens[i]) for i in range(n)]
    try:
        ramp = await connect_sockets(clients, [ctx.ws_url])
        p99s, maxima, _ = await broadcasts(ctx, clients, members, ctx.plan.repeat)
    finally:
        await close_sockets(clients)
    name = f"group broadcast to {n} open sockets"
    return [
        Row(
            name,
            "p99",
            statistics.median(p99s),
            "ms",
            Target(250, False, "<= 250 ms"),
            None,
            f"{n} sockets opened in {ramp:.2f} s",
        ),
        Row(name, "last socket", statistics.median(maxima), "ms", None),
    ]


def upload_once(ctx: Context, size_mib: int, pids: list[int]) -> tuple[float, float]:
    """One upload through REST to S3 (moto): MB/s, and the largest RSS growth (MiB) of any serving
    process above its idle RSS (upload_memory.py's method, over every process that may serve it)."""
    import hashlib

    headers = {
        "Authorization": f"Bearer {ctx.seed.tokens[0]}",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Connection": "close",
    }
    with httpx.Client(base_url=ctx.rest_url, timeout=600, trust_env=False) as client:
        idle = {pid: rss_kib(pid) for pid in pids}
        samplers = []
        for pid in pids:
            reset_peak(pid)
            samplers.append(Sampler(pid))
            samplers[-1].start()
        length, body = multipart_body(size_mib * MIB, hashlib.sha256())
        started = time.monotonic()
        response = client.post(
            "/api/v1/media/upload", content=body, headers={**headers, "Content-Length": str(length)}
        )
        seconds = time.monotonic() - started
        for sampler in samplers:
            sampler.stop.set()
            sampler.join()
        expect(response, 201)
        growth = max(max(s.peak, rss_kib(s.pid, "VmHWM")) - idle[s.pid] for s in samplers) / 1024
        # moto keeps objects in memory: each one goes as soon as it is measured.
        expect(client.delete(f"/api/v1/media/{response.json()['id']}", headers=headers), 204)
    return size_mib * MIB / seconds / 1e6, growth


async def workload_upload(ctx: Context) -> list[Row]:
    pids = ctx.topology.rest.serving_pids()
    size = ctx.plan.upload_mib
    for _ in range(2):  # warm-up: imports, the storage client, the connections
        await asyncio.to_thread(upload_once, ctx, 2, pids)
    results = [await asyncio.to_thread(upload_once, ctx, size, pids) for _ in range(ctx.plan.repeat)]
    name = f"upload {size} MiB to S3 (moto)"
    return [
        Row(
            name,
            "throughput",
            statistics.median(r[0] for r in results),
            "MB/s",
            Target(100, True, ">= 100 MB/s"),
        ),
        Row(
            name,
            "server RSS growth (max)",
            max(r[1] for r in results),
            "MiB",
            Target(50, False, "<= 50 MiB (flat)"),
            note=f"over {len(pids)} serving process(es)",
        ),
    ]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def workload_sockets(ctx: Context) -> list[Row]:
    """--sockets N on the deploy topology's two ASGI processes: connect rate, memory per socket,
    idle CPU, and the broadcast group's message with all of them open."""
    n = ctx.args.sockets
    ws = ctx.topology.ws
    urls = [server.url.replace("http://", "ws://") + "/ws/" for server in ws]
    pids = [server.process.pid for server in ws]
    clients = [Client(index=i, user_id=ctx.seed.ids[i], token=ctx.seed.tokens[i]) for i in range(n)]
    # Warm each process (imports, connections) with one socket, then read its memory.
    warm = [Client(index=-1, user_id=ctx.seed.ids[0], token=ctx.seed.tokens[0]) for _ in ws]
    for client, url in zip(warm, urls, strict=True):
        await connect_sockets([client], [url])
    await close_sockets(warm)
    await asyncio.sleep(1)
    before = sum(rss_kib(pid) for pid in pids)
    try:
        with profiled_phase(ctx, "sockets: the connects"):
            ramp = await connect_sockets(clients, urls)
        await asyncio.sleep(2)  # presence hooks, GC
        after = sum(rss_kib(pid) for pid in pids)
        cpu_before, idle_started = sum(cpu_seconds(pid) for pid in pids), time.monotonic()
        await asyncio.sleep(ctx.plan.sockets_hold)
        idle_cores = (sum(cpu_seconds(pid) for pid in pids) - cpu_before) / (time.monotonic() - idle_started)
        closed = [c for c in clients if c.closed]
        if closed:
            raise WorkloadFailed(f"sockets: {len(closed)} closed during the hold: {closed[0].closed}")
        members = ctx.seed.ids[: ctx.plan.broadcast_members]
        with profiled_phase(ctx, f"sockets: {len(members)}-member messages with all {n} open"):
            p99s, maxima, _ = await broadcasts(ctx, clients[: len(members)], members, ctx.plan.repeat)
    finally:
        await close_sockets(clients)
    name = f"{n} sockets on {len(ws)} ASGI processes"
    per_5000 = idle_cores / n * 5000 * 100
    return [
        Row(name, "connect rate", n / ramp, "sockets/s", Target(300, True, ">= 300/s")),
        Row(name, "memory per socket", (after - before) / n, "KiB", Target(64, False, "<= 64 KiB")),
        Row(
            name,
            "idle CPU per 5,000 sockets",
            per_5000,
            "% of a core",
            Target(10, False, "< 10 %"),
            note=f"over a {ctx.plan.sockets_hold:g} s hold",
        ),
        Row(
            name,
            f"broadcast to {len(members)} of them, p99",
            statistics.median(p99s),
            "ms",
            Target(250, False, "<= 250 ms"),
            note=f"last socket {statistics.median(maxima):.1f} ms",
        ),
    ]


# With --profile, these profile their phases apart (a ramp of connects and a broadcast have
# nothing in common), not the whole workload.
PROFILED_BY_PHASE = {"sockets"}

WORKLOAD_FUNCTIONS: dict[str, Callable[[Context], Awaitable[list[Row]]]] = {
    "send": workload_send,
    "send-serial": workload_send_serial,
    "history": workload_history,
    "delivery": workload_delivery,
    "group-send": workload_group_send,
    "broadcast": workload_broadcast,
    "upload": workload_upload,
    "sockets": workload_sockets,
}


@contextlib.contextmanager
def profiled(ctx: Context, workload: str) -> Iterator[Profiler | None]:
    """With --profile: py-spy on every serving process of the topology while `workload` runs."""
    if not ctx.args.profile:
        yield None
        return
    slug = "".join(c if c.isalnum() else "-" for c in workload)
    with Profiler(ctx.work, f"{ctx.topology.name}-{slug}") as profiler:
        for server in ctx.topology.servers:
            for pid in server.serving_pids():
                profiler.attach(f"{server.name} {pid}", pid)
        profiler.attach(f"load client {os.getpid()}", os.getpid())  # this harness: its share of the CPU
        yield profiler


@contextlib.contextmanager
def profiled_phase(ctx: Context, label: str) -> Iterator[None]:
    """With --profile: `label`'s own profile in the report (a workload's phase, or a whole workload)."""
    with profiled(ctx, label) as profiler:
        yield
    if profiler is not None:
        ctx.profiles[label] = profiler.summary()


async def run_workloads(ctx: Context, names: list[str]) -> tuple[list[Row], list[str]]:
    rows, failures = [], []
    for name in names:
        print(f"[{ctx.topology.name}] {name} ...", flush=True)
        started = time.monotonic()
        try:
            budget = 120 + 3 * (ctx.plan.warmup + ctx.plan.repeat * ctx.plan.duration) + ctx.plan.sockets_hold
            if name == "sockets":  # its ramp: room for N connects at 20 a second
                budget += ctx.args.sockets / 20
            if name in PROFILED_BY_PHASE:
                new = await asyncio.wait_for(WORKLOAD_FUNCTIONS[name](ctx), budget)
            else:
                with profiled_phase(ctx, name):
                    new = await asyncio.wait_for(WORKLOAD_FUNCTIONS[name](ctx), budget)
        except (WorkloadFailed, AssertionError, TimeoutError, OSError, httpx.HTTPError) as exc:
            failures.append(f"[{ctx.topology.name}] {name}: {type(exc).__name__}: {exc}"[:800])
            print(f"  FAILED: {failures[-1]}", flush=True)
            continue
        for row in new:
            print(f"  {row.figure}: {fmt(row.value)} {row.unit}", flush=True)
        print(f"  ({time.monotonic() - started:.1f} s)", flush=True)
        rows.extend(new)
    return rows, failures


# --- Report --------------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def table(rows: list[Row], judge: bool) -> list[str]:
    lines = [
        "| workload | figure | value | target | met? | floor | ratio to floor | notes |",
        "|---|---|---:|---|---|---:|---:|---|",
    ]
    for r in rows:
        met = (
            "—"
            if not judge or r.target is None or r.value is None
            else ("yes" if r.target.met(r.value) else "**no**")
        )
        ratio = r.ratio_to_floor()
        lines.append(
            f"| {r.workload} | {r.figure} | {fmt(r.value)} {r.unit} | {r.target.text if r.target else ''} | {met} "
            f"| {fmt(r.floor) + ' ' + r.unit if r.floor else ''} | {f'{ratio:.2f}x' if ratio is not None else ''} "
            f"| {r.note} |"
        )
    return lines


def comparison(deploy: list[Row], makerun: list[Row], judge: bool) -> list[str]:
    """`make run` against the deploy topology, row by row: >= 70 % of it (for a latency, the
    deploy figure over make run's)."""
    lines = [
        "| workload | figure | deploy | make run | make run / deploy | >= 70 %? |",
        "|---|---|---:|---:|---:|---|",
    ]
    theirs = {(r.workload, r.figure): r for r in makerun}
    for r in deploy:
        other = theirs.get((r.workload, r.figure))
        if other is None or not r.value or not other.value:
            continue
        share = other.value / r.value if r.higher_is_better else r.value / other.value
        met = "—" if not judge else ("yes" if share >= 0.7 else "**no**")
        lines.append(
            f"| {r.workload} | {r.figure} | {fmt(r.value)} {r.unit} | {fmt(other.value)} {r.unit} | {share:.0%} | {met} |"
        )
    return lines


def report(
    args: argparse.Namespace,
    command: str,
    results: dict[str, list[Row]],
    failures: list[str],
    profiles: dict[str, dict[str, list[str]]] | None = None,
) -> str:
    judge = not args.smoke
    plan = args.plan
    lines = [
        f"# Benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC{' (smoke: no targets judged)' if args.smoke else ''}",
        "",
        f"    {command}",
        "",
        f"- machine: {machine()}; gunicorn {_version('gunicorn')}, httpx {_version('httpx')}",
        f"- commit: {_git_commit()}",
        "- run alone on the machine; compare figures within one run (the floors are measured in it)",
        "- deploy topology: `python "
        + " ".join(gunicorn_command(0)[1:]).replace(" -b 127.0.0.1:0", "")
        + f"` (REST: {gunicorn_settings()}) + `python "
        + " ".join(uvicorn_command(0)[1:]).replace(" --port 0", "")
        + "` (/ws/)",
        "- makerun topology: `make run` (its uvicorn processes serve REST, on threads, and /ws/ on one port)",
        "- both: DEBUG off, PostgreSQL and Redis on loopback, rate limits lifted (bench/settings.py), "
        "a new connection per request, clients on the same machine (their CPU is in the notes)",
        f"- closed loop; warm-up {plan.warmup:g} s, then {plan.repeat} window(s) of {plan.duration:g} s; "
        "each figure is the median of the windows",
        "- floor: the same figure on a bare DRF endpoint (bench/floor/) at the same concurrency: "
        "`POST` inserting one row for sends, `GET` a page of 50 rows for history; ratio = value / floor",
        "",
    ]
    for name, rows in results.items():
        lines += [f"## Topology: {name}", "", *table(rows, judge), ""]
    if "deploy" in results and "makerun" in results:
        lines += ["## `make run` against the deploy topology (target: >= 70 % on every row)", ""]
        lines += [*comparison(results["deploy"], results["makerun"], judge), ""]
    for topology, by_workload in (profiles or {}).items():
        for workload, summary in by_workload.items():
            lines += [f"## Profile: {workload} ({topology}; py-spy, --profile)", "", *summary]
    if failures:
        lines += ["## Failures", "", *[f"- {f}" for f in failures], ""]
    return "\n".join(lines)


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _git_commit() -> str:
    result = subprocess.run(
        ["git", "-C", str(BASE_DIR), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


# --- Main ----------------------------------------------------------------------------------------------


class Interrupted(BaseException):
    """SIGTERM or the --timeout: unwinds like Ctrl-C, through every `finally`."""


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # uvicorn[standard] brings it: a cheaper load client

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="seconds per workload, small groups, no targets")
    parser.add_argument("--only", default="", help=f"comma-separated workloads of {', '.join(WORKLOADS)}")
    parser.add_argument("--topology", choices=["deploy", "makerun", "both"], default="deploy")
    parser.add_argument("--duration", type=float, help="seconds per measured window (full: 3, smoke: 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per workload (full: 2, smoke: 0.3)")
    parser.add_argument("--repeat", type=int, help="measured windows per workload (full: 3, smoke: 1)")
    parser.add_argument(
        "--sockets", type=int, default=0, help="adds the many-sockets workload with N sockets"
    )
    parser.add_argument("--out", help="the report's path (full default: bench/results/<date>.md; '-': none)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/messenger_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--timeout", type=float, help="seconds for the whole run (full: 1800, smoke: 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (server logs)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy on every serving process during each workload; the report gets where the CPU went "
        "(its figures are not the day's: sampling costs the servers a little)",
    )
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    overrides = {
        k: getattr(args, k) for k in ("duration", "warmup", "repeat") if getattr(args, k) is not None
    }
    args.plan = Plan(**{**plan.__dict__, **overrides})
    names = [n.strip() for n in args.only.split(",") if n.strip()] or [w for w in WORKLOADS if w != "sockets"]
    unknown = set(names) - set(WORKLOADS)
    if unknown:
        parser.error(f"--only: unknown workload(s) {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    if args.sockets and "sockets" not in names:
        names.append("sockets")
    if "sockets" in names and args.sockets < 1:
        parser.error("the sockets workload needs --sockets N")
    args.workloads = names
    args.timeout = args.timeout or (300.0 if args.smoke else 1800.0)
    return args


def run_topology(
    args: argparse.Namespace,
    name: str,
    env: dict[str, str],
    work: Path,
    profiles: dict[str, dict[str, list[str]]],
) -> tuple[list[Row], list[str]]:
    workloads = [w for w in args.workloads if not (w == "sockets" and name != "deploy")]
    manage(env, "flush", "--noinput")
    started = time.monotonic()
    users = max(args.plan.users, args.sockets)
    seeded = seed(env, args.plan, users)
    print(
        f"[{name}] seeded {users} users, {len(seeded.groups) + 1} groups in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    topology = start_topology(name, env, work, sockets="sockets" in workloads)
    try:
        print(f"[{name}] up: " + ", ".join(f"{s.name} {s.url}" for s in topology.servers), flush=True)
        ctx = Context(
            args=args,
            plan=args.plan,
            topology=topology,
            seed=seeded,
            templates=Templates(seeded, args.plan),
            work=work,
        )
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            rows, failures = runner.run(run_workloads(ctx, workloads))
        profiles[name] = ctx.profiles
        for server in topology.servers:
            if server.process.poll() is not None:
                failures.append(f"[{name}] {server.name} died:\n{server.log_tail()}")
        errors = [
            line
            for s in topology.servers
            for line in s.log_path.read_text(errors="replace").splitlines()
            # text (" ERROR ") or JSON logs (LOG_FORMAT, json in real mode)
            if " ERROR " in line or '"level": "ERROR"' in line or "Traceback" in line
        ]
        if errors:
            print(f"[{name}] server logs: {len(errors)} ERROR lines, first: {errors[0][:300]}", flush=True)
        return rows, failures
    finally:
        for server in topology.servers:
            stop_server(server)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    signal.alarm(int(args.timeout))
    raise_open_files_limit(2 * max(args.sockets, args.plan.broadcast_members) + 1024)
    work = Path(tempfile.mkdtemp(prefix="bench-run-"))
    prefix = f"bench-run-{uuid.uuid4().hex[:12]}"
    moto = None
    results: dict[str, list[Row]] = {}
    profiles: dict[str, dict[str, list[str]]] = {}  # topology -> workload -> --profile's summary
    failures: list[str] = []
    try:
        ensure_database(args.database_url)
        needs_s3 = "upload" in args.workloads
        s3_env: dict[str, str] = {}
        if needs_s3:
            moto = start_moto_server(work / "moto.log")
            moto.client().create_bucket(Bucket="bench-media")
            s3_env = moto.env("bench-media")
        env = bench_env(args, prefix, work, s3_env)
        manage(env, "migrate", "--noinput", "--run-syncdb", "-v", "0")
        for name in ("deploy", "makerun") if args.topology == "both" else (args.topology,):
            rows, failed = run_topology(args, name, env, work, profiles)
            results[name] = rows
            failures += failed
    except (Interrupted, KeyboardInterrupt) as exc:  # what was measured is still printed
        failures.append(f"interrupted: {type(exc).__name__} {exc}")
    finally:
        signal.alarm(0)
        if moto is not None and moto.process is not None:
            stop_process(moto.process)
        with contextlib.suppress(Exception):
            delete_redis_keys(args.redis_url, prefix)
        if args.keep:
            print(f"logs in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = report(args, command, results, failures, profiles)
    print()
    print(text)
    # A run with failures writes its default results file no more than a smoke does: a half
    # table must not stand as the day's figures.
    out = args.out or (
        None
        if args.smoke or failures
        else str(BASE_DIR / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}.md")
    )
    if out and out != "-":
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
        print(f"written to {out}")
    if failures:
        print(f"FAILED: {len(failures)} problem(s), listed above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
