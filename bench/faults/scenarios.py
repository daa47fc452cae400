"""The faults, one at a time, each injected under the steady load (bench/faults/load.py).

Each returns the (start, end) of the fault in the ledger's seconds; an instant fault (a kill)
has start == end, and what comes back afterwards (a restarted process) is the recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.faults.cluster import Cluster
from bench.faults.load import Ledger


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    inject: Callable[[Cluster, Ledger, float], Awaitable[tuple[float, float]]]
    seconds: float  # how long the fault lasts (0: instant)
    redis_aof: bool = False
    spool_tmpfs: bool = False  # root only: the spool on a small disk of its own


async def kill_asgi(cluster: Cluster, ledger: Ledger, seconds: float) -> tuple[float, float]:
    """SIGKILL uvicorn-1: no close frames, no clean-up. A supervisor starts it again 10 s later."""
    doomed = cluster.asgi[0]
    assert doomed.process is not None
    start = ledger.now()
    os.killpg(doomed.process.pid, signal.SIGKILL)
    doomed.process.wait(timeout=10)
    await asyncio.sleep(10)
    doomed.start()
    await asyncio.to_thread(doomed.wait_ready)
    return start, start


async def kill_gunicorn_worker(cluster: Cluster, ledger: Ledger, seconds: float) -> tuple[float, float]:
    """SIGKILL one gunicorn worker while it serves (the load keeps both busy); the master forks
    another. Whatever that worker was answering is cut: the clients see a closed connection."""
    workers = cluster.gunicorn_workers()
    start = ledger.now()
    os.kill(workers[0], signal.SIGKILL)
    return start, start


async def stop_postgres(cluster: Cluster, ledger: Ledger, seconds: float) -> tuple[float, float]:
    """`pg_ctl stop -m fast` (every connection cut), `seconds` later started again."""
    start = ledger.now()
    await asyncio.to_thread(cluster.postgres.stop, "fast")
    await asyncio.sleep(seconds)
    await asyncio.to_thread(cluster.postgres.start)
    return start, ledger.now()


async def restart_redis(cluster: Cluster, ledger: Ledger, seconds: float) -> tuple[float, float]:
    """The app's Redis (cache, channel layer, relay, presence) stopped (SIGTERM: its own
    shutdown, which writes the AOF out when it has one), `seconds` later started again."""
    start = ledger.now()
    await asyncio.to_thread(cluster.redis.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(cluster.redis.start)
    return start, ledger.now()


async def stop_broker(cluster: Cluster, ledger: Ledger, seconds: float) -> tuple[float, float]:
    start = ledger.now()
    await asyncio.to_thread(cluster.broker.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(cluster.broker.start)
    return start, ledger.now()


async def s3_unreachable(cluster: Cluster, ledger: Ledger, seconds: float) -> tuple[float, float]:
    """The S3 endpoint refuses connections (and cuts those open) for `seconds`; moto keeps its
    objects meanwhile."""
    start = ledger.now()
    await cluster.gate.close()
    await asyncio.sleep(seconds)
    await cluster.gate.open()
    return start, ledger.now()


async def spool_full(cluster: Cluster, ledger: Ledger, seconds: float) -> tuple[float, float]:
    """The upload spool's disk full for `seconds`: as root the spool is a 64 MiB tmpfs of its own
    (mounted at the start, `Scenario.spool_tmpfs`), filled to the last byte by a file that is
    deleted afterwards, so uploads' writes fail with ENOSPC; not root, the spool directory is made
    read-only instead (EACCES: a spool that refuses writes)."""
    spool = cluster.spool
    start = ledger.now()
    if os.geteuid() == 0:
        if not os.path.ismount(spool):
            raise RuntimeError(f"{spool} is not the run's tmpfs: cannot fill it")
        filler = spool / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as sink:
            block = b"\0" * (1 << 20)
            while True:
                sink.write(block)
                sink.flush()
        probe = spool / "probe"
        try:
            probe.write_bytes(b"\0" * 4096)
        except OSError:
            pass
        else:
            raise RuntimeError(f"{spool} still takes writes after filling it")
        await asyncio.sleep(seconds)
        filler.unlink()
    else:
        spool.chmod(0o555)
        await asyncio.sleep(seconds)
        spool.chmod(0o755)
    return start, ledger.now()


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("kill-asgi", "an ASGI process (uvicorn-1) SIGKILLed, restarted 10 s later", kill_asgi, 0),
        Scenario("kill-gunicorn-worker", "a gunicorn worker SIGKILLed mid-request", kill_gunicorn_worker, 0),
        Scenario(
            "stop-postgres",
            "PostgreSQL stopped (every connection cut), then started again",
            stop_postgres,
            15,
        ),
        Scenario("restart-redis", "Redis (no persistence) stopped, then started empty", restart_redis, 5),
        Scenario(
            "restart-redis-aof",
            "Redis (AOF, everysec) stopped, then started from its AOF",
            restart_redis,
            5,
            redis_aof=True,
        ),
        Scenario("stop-broker", "the Celery broker (its own Redis) stopped, then started", stop_broker, 30),
        Scenario("s3-unreachable", "the S3 endpoint refusing connections", s3_unreachable, 15),
        Scenario("spool-full", "the upload spool's disk full", spool_full, 15, spool_tmpfs=os.geteuid() == 0),
    )
}
