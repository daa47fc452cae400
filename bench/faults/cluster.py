"""The processes of one fault-injection run, all of them the harness's own, on loopback.

- PostgreSQL: `initdb` into the run's directory and `pg_ctl` on a free port (as the `postgres`
  user when the harness runs as root: PostgreSQL refuses root). `fsync=off`: a test database
  that dies with the run needs no durability, and stopping it (`pg_ctl stop -m fast`, the fault)
  checkpoints cleanly anyway.
- Redis twice: the app's (cache, channel layer, relay, presence, throttles) and the Celery
  broker's, so that either can be stopped alone. The app's runs without persistence unless the
  scenario asks for AOF; the broker's keeps an append-only file, as a production broker would.
- moto's S3 server behind a TCP relay of the harness's own (`S3Gate`): closing the gate makes the
  endpoint refuse connections (and cuts the open ones) while moto keeps its objects in memory.
- The app: gunicorn (`messenger.wsgi`, 2 gthread workers, REST as deploy/ serves it), two uvicorn
  (`messenger.asgi`, /ws/), a Celery worker and beat; production settings (DEBUG off).

The machine's own PostgreSQL and Redis are never touched: nothing here connects to 5432 or 6379.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.run import BASE_DIR, gunicorn_command, manage, uvicorn_command
from tests.s3 import S3Endpoint, free_port, start_moto_server, stop_process

PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT_SECONDS = 60.0
# Every limit a load of a few users sending for minutes would hit; lifted, still counted.
THROTTLES = (
    "THROTTLE_LOGIN_IP",
    "THROTTLE_LOGIN_ACCOUNT",
    "THROTTLE_REGISTER_IP",
    "THROTTLE_REGISTER_ACCOUNT",
    "THROTTLE_USER_DEFAULT",
    "THROTTLE_MESSAGE_SEND",
    "THROTTLE_INVITATION_SEND",
    "THROTTLE_WS_TICKET",
    "THROTTLE_PRESENCE",
    "THROTTLE_RELAY_QUEUE",
    "THROTTLE_TYPING",
)


def _as_postgres() -> list[str]:
    """PostgreSQL's tools refuse to run as root: run them as `postgres` then."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class Postgres:
    directory: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/messenger"

    def init(self) -> None:
        self.directory.mkdir(parents=True)
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        subprocess.run(
            [
                *_as_postgres(),
                str(PG_BIN / "initdb"),
                "-D",
                str(self.directory / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self.port = free_port()
        self.start()
        subprocess.run(
            [
                *_as_postgres(),
                str(PG_BIN / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "messenger",
            ],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [
                *_as_postgres(),
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-o",
                options,
                "-l",
                str(self.directory / "postgres.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [
                *_as_postgres(),
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "stop",
            ],
            check=False,
            capture_output=True,
        )

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, ...)."""
        try:
            master = int((self.directory / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [master, *_children(master)]


@dataclass
class Redis:
    name: str
    directory: Path
    appendonly: bool
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        redis_server = shutil.which("redis-server") or "redis-server"
        log = (self.directory / "redis.log").open("ab")
        persistence = (
            ("--appendonly", "yes", "--appendfsync", "everysec")
            if self.appendonly
            else ("--appendonly", "no")
        )
        self.process = subprocess.Popen(
            [
                redis_server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                *persistence,
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        import redis

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
            try:
                if client.ping():
                    return
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis {self.name} did not start") from None
            finally:
                client.close()
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Redis' own shutdown (it writes the AOF out when it has one)."""
        if self.process is not None:
            stop_process(self.process)


class S3Gate:
    """A TCP relay in front of moto: open, connections pass; closed, the port refuses them and
    those in flight are cut. Runs on the harness's event loop."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.server: asyncio.base_events.Server | None = None
        self.streams: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.streams):
            writer.transport.abort()
        self.streams.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self.streams.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                if sink.transport is not None:
                    sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.streams.difference_update((writer, up_writer))


@dataclass
class App:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *_children(self.process.pid)]

    def wait_ready(self, path: str = "/readyz") -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(f"{self.url}{path}", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} did not come up:\n{tail}")
            time.sleep(0.2)


def _children(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        parent = pending.pop()
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{parent}/task"):
                with contextlib.suppress(OSError):
                    for child in Path(f"/proc/{parent}/task/{tid}/children").read_text().split():
                        pending.append(int(child))
                        found.append(int(child))
    return found


@dataclass
class Cluster:
    work: Path
    postgres: Postgres
    redis: Redis
    broker: Redis
    moto: S3Endpoint
    gate: S3Gate
    bucket: str
    spool: Path
    env: dict[str, str]
    gunicorn: App
    asgi: list[App]
    worker: App
    beat: App

    @property
    def apps(self) -> list[App]:
        return [self.gunicorn, *self.asgi, self.worker, self.beat]

    def processes(self) -> dict[str, list[int]]:
        """Every process of the run by role, for the soak's samples."""
        roles = {app.name: app.pids() for app in self.apps}
        roles["postgres"] = self.postgres.pids()
        roles["redis"] = [self.redis.process.pid] if self.redis.process else []
        roles["broker"] = [self.broker.process.pid] if self.broker.process else []
        roles["moto"] = [self.moto.process.pid] if self.moto.process else []
        return roles

    def gunicorn_workers(self) -> list[int]:
        assert self.gunicorn.process is not None
        return [pid for pid in self.gunicorn.pids() if pid != self.gunicorn.process.pid]

    def mail_dir(self) -> Path:
        return self.work / "mail"

    def stop(self) -> None:
        for app in self.apps:
            app.stop()
        self.redis.stop()
        self.broker.stop()
        if self.moto.process is not None:
            stop_process(self.moto.process)
        self.postgres.stop("immediate")
        unmount(self.spool)


def unmount(path: Path) -> None:
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", str(path)], check=False)


def app_env(
    work: Path, database_url: str, redis_url: str, broker_url: str, s3: dict[str, str], spool: Path
) -> dict:
    inherited = ("DATABASE_", "REDIS_", "CELERY_", "S3_", "CACHE_", "CHANNEL_", "RELAY_", "DJANGO_", "EMAIL_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(inherited)}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "messenger.settings",
            "DEBUG": "0",
            "SECRET_KEY": "faults-" + secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "VAR_DIR": str(work / "var"),
            "EMAIL_URL": f"filemail:///{work / 'mail'}",  # 4 slashes: an absolute path
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "JWT_ACCESS_MINUTES": "240",  # the seeded tokens outlive a soak
            # A lost email is found again within seconds rather than the production 5 minutes,
            # so that a run of a few minutes sees the outbox recover (the rule is the same).
            "EMAIL_OUTBOX_REDISPATCH_AFTER_SECONDS": "20",
            "EMAIL_OUTBOX_REDISPATCH_EVERY_SECONDS": "5",
            "EMAIL_OUTBOX_RETRY_BASE_SECONDS": "5",
            "EMAIL_OUTBOX_RETRY_MAX_SECONDS": "20",
            "EMAIL_OUTBOX_MAX_ATTEMPTS": "50",
            "REALTIME_PRESENCE_HEARTBEAT_SECONDS": "5",
            "REALTIME_PRESENCE_TTL_SECONDS": "15",
            "MESSAGING_UNREAD_EMAIL_DELAY_SECONDS": "0",
            "TMPDIR": str(spool),  # where uploads spool to disk (the spool-full fault's target)
            **s3,
        }
    )
    for name in THROTTLES:
        env[name] = "1000000/s"
    return env


def celery_commands(work: Path) -> tuple[list[str], list[str]]:
    celery = [sys.executable, "-m", "celery", "-A", "messenger"]
    worker = [
        *celery,
        "worker",
        "--loglevel=WARNING",
        "--concurrency=2",
        "--without-gossip",
        "--without-mingle",
    ]
    beat = [*celery, "beat", "--loglevel=WARNING", "--schedule", str(work / "celerybeat-schedule")]
    return worker, beat


async def start_cluster(work: Path, *, redis_aof: bool = False, spool_tmpfs: bool = False) -> Cluster:
    """Everything up and ready, migrated and empty. The caller stops it (`Cluster.stop`)."""
    postgres = Postgres(work / "postgres")
    redis = Redis("redis", work / "redis", appendonly=redis_aof)
    broker = Redis("broker", work / "broker", appendonly=True)
    moto = None
    apps: list[App] = []
    try:
        await asyncio.to_thread(postgres.init)
        redis.start()
        broker.start()
        moto = await asyncio.to_thread(start_moto_server, work / "moto.log")
        gate = S3Gate(int(moto.url.rsplit(":", 1)[1]))
        await gate.open()
        bucket = "faults"
        moto.client().create_bucket(Bucket=bucket)
        s3 = S3Endpoint(url=gate.url).env(bucket)
        spool = work / "spool"
        spool.mkdir()
        if spool_tmpfs:
            # Its own small disk from the start, so that filling it is a full disk and nothing else
            # (a tmpfs mounted over the directory later would hide files already open in it).
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(spool)], check=True)
        env = app_env(work, postgres.url, redis.url, broker.url, s3, spool)
        await asyncio.to_thread(manage, env, "migrate", "--noinput")
        apps_dir = work / "logs"
        apps_dir.mkdir()
        gunicorn = App("gunicorn", [], env, apps_dir / "gunicorn.log", port=free_port())
        gunicorn.command = gunicorn_command(gunicorn.port)
        asgi = []
        for index in (1, 2):
            app = App(f"uvicorn-{index}", [], env, apps_dir / f"uvicorn-{index}.log", port=free_port())
            app.command = uvicorn_command(app.port)
            asgi.append(app)
        worker_command, beat_command = celery_commands(work)
        worker = App("celery-worker", worker_command, env, apps_dir / "worker.log")
        beat = App("celery-beat", beat_command, env, apps_dir / "beat.log")
        cluster = Cluster(
            work, postgres, redis, broker, moto, gate, bucket, spool, env, gunicorn, asgi, worker, beat
        )
        apps = cluster.apps
        for app in apps:
            app.start()
        for app in (gunicorn, *asgi):
            await asyncio.to_thread(app.wait_ready)
        return cluster
    except BaseException:
        for app in apps:
            app.stop()
        redis.stop()
        broker.stop()
        if moto is not None and moto.process is not None:
            stop_process(moto.process)
        postgres.stop("immediate")
        unmount(work / "spool")
        raise
