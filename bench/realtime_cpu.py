"""CPU and bytes of the real-time side, in one process, measured as CPU time (issue 15).

On a shared machine wall-clock figures move with everyone else's load; CPU time and bytes do not
(much). Run it in two checkouts (before and after a change) against the same services:

    .venv/bin/python bench/realtime_cpu.py --database-url postgres://postgres@127.0.0.1:5432/DB

It needs a migrated database (bench/run.py leaves one) and Redis; it adds users under a prefix of
its own and deletes its Redis keys. What it prints, one line each:

- publish: a 1:1 event to two users' groups (one channel each), outside a transaction as an
  on-commit callback runs it: CPU per publish, threads started, Redis connections opened.
- delivery: publish (from a worker thread) to `receive` on the layer in this process's loop.
- group: one 200-member group message, the members' channels spread over two layer instances
  (two server processes): CPU to publish, and the bytes it wrote into the processes' inboxes.
- sockets: N sockets through the ASGI application in this process (channels' communicator, the
  `auth` frame path): CPU per connect, then CPU while they idle for --hold seconds (per 5,000
  sockets), RSS per socket, and Redis connections held.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def redis_connections(port: int) -> int:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def measure_publish(rounds: int) -> str:
    from channels.layers import get_channel_layer

    from core import events

    layer = get_channel_layer()
    users = [str(uuid.uuid4()) for _ in range(2)]

    async def join() -> None:
        for user in users:
            await layer.group_add(events.realtime_user_group_name(user), await layer.new_channel())

    asyncio.run(join())
    data = {"id": str(uuid.uuid4()), "encrypted_content": "QUJD" * 64}
    events.publish(users, "message.new", data)  # warm: the first one connects
    threads, connections = threading.active_count(), redis_connections(REDIS_PORT)
    cpu, wall = time.process_time(), time.perf_counter()
    started_threads = 0
    for _ in range(rounds):
        before = threading.active_count()
        events.publish(users, "message.new", data)
        started_threads += max(0, threading.active_count() - before)
    cpu_ms = (time.process_time() - cpu) / rounds * 1000
    wall_ms = (time.perf_counter() - wall) / rounds * 1000
    return (
        f"publish (1:1, two user groups): {cpu_ms:.3f} ms CPU, {wall_ms:.3f} ms wall per publish over {rounds};"
        f" threads {threads} -> {threading.active_count()}, Redis connections {connections} ->"
        f" {redis_connections(REDIS_PORT)}"
    )


def measure_delivery(rounds: int) -> str:
    """From publish (in a worker thread, as a view's on-commit callback) to the receiving
    layer's `receive` in this process's event loop: wall time, p50 and p99."""
    import statistics

    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer

    from core import events

    async def run() -> list[float]:
        layer = get_channel_layer()
        user = str(uuid.uuid4())
        channel = await layer.new_channel()
        await layer.group_add(events.realtime_user_group_name(user), channel)
        publish = sync_to_async(events.publish, thread_sensitive=False)
        latencies = []
        for _ in range(rounds):
            started = time.perf_counter()
            await publish([user], "message.new", {"id": "x"})
            await layer.receive(channel)
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies

    latencies = sorted(asyncio.run(run()))
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return f"delivery publish -> receive: p50 {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms"


def measure_group(members: int, rounds: int) -> str:
    import redis
    from channels.layers import get_channel_layer
    from django.conf import settings

    from core import events

    layer_class = type(get_channel_layer())
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    processes = [layer_class(**config) for _ in range(2)]
    users = [str(uuid.uuid4()) for _ in range(members)]
    group_id = str(uuid.uuid4())
    per_user = hasattr(events, "publish_per_user")

    async def join() -> None:
        for index, user in enumerate(users):
            layer = processes[index % 2]
            channel = await layer.new_channel()
            await layer.group_add(events.realtime_user_group_name(user), channel)
            await layer.group_add(events.realtime_chat_group_name(group_id), channel)

    asyncio.run(join())
    keys = dict.fromkeys(users, "a2V5LWZvci1hLW1lbWJlci1vZi10aGUtZ3JvdXAtMzItYnl0ZXM=")
    data = {"id": str(uuid.uuid4()), "group_id": group_id, "encrypted_content": "QUJD" * 64}

    def publish() -> None:
        if per_user:
            events.publish_per_user(
                {user: {"encrypted_session_key": key} for user, key in keys.items()},
                "group.message.new",
                data,
            )
        else:
            events.publish_to_chat_group(
                group_id, "group.message.new", {**data, "encrypted_session_keys": keys}
            )

    client = redis.Redis.from_url(settings.REDIS_URL)
    inboxes = [f"{layer.prefix}specific.{layer.client_prefix}!" for layer in processes]
    publish()  # warm
    client.delete(*inboxes)
    rounds = max(1, rounds // 10)
    cpu = time.process_time()
    for _ in range(rounds):
        publish()
    cpu_ms = (time.process_time() - cpu) / rounds * 1000
    written = sum(len(member) for inbox in inboxes for member in client.zrange(inbox, 0, -1)) / rounds
    client.delete(*inboxes)
    return (
        f"group message to {members} members over 2 processes: {cpu_ms:.2f} ms CPU to publish,"
        f" {written / 1024:.1f} KiB written to the inboxes per message"
    )


async def measure_sockets(count: int, hold: float) -> str:
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth.hashers import make_password

    from accounts.models import User
    from accounts.tokens import issue_token_pair
    from messenger.asgi import application

    def seed() -> list[str]:
        run = uuid.uuid4().hex[:8]
        password = make_password(None)
        users = User.objects.bulk_create(
            User(
                username=f"c{run}_{i}", email=f"c{run}_{i}@bench.invalid", password=password, is_verified=True
            )
            for i in range(count + 1)
        )
        return [issue_token_pair(user_id=user.pk).access for user in users]

    tokens = await sync_to_async(seed)()

    async def open_socket(token: str) -> WebsocketCommunicator:
        socket = WebsocketCommunicator(application, "/ws/")
        connected, _ = await socket.connect(timeout=30)
        assert connected
        await socket.send_json_to({"type": "auth", "data": {"token": token}})
        hello = await socket.receive_json_from(timeout=30)
        assert hello["type"] == "hello", hello
        return socket

    warm = await open_socket(tokens[0])
    await asyncio.sleep(0.5)
    rss, connections = rss_kib(), redis_connections(REDIS_PORT)
    cpu, wall = time.process_time(), time.perf_counter()
    sockets = []
    for start in range(0, count, 50):  # 50 handshakes in flight
        sockets += await asyncio.gather(*(open_socket(token) for token in tokens[1 + start : 1 + start + 50]))
    connect_cpu = (time.process_time() - cpu) / count * 1000
    connect_wall = time.perf_counter() - wall
    await asyncio.sleep(1)
    per_socket = (rss_kib() - rss) / count
    held = redis_connections(REDIS_PORT) - connections
    cpu = time.process_time()
    await asyncio.sleep(hold)
    idle = (time.process_time() - cpu) / hold / count * 5000 * 100
    for socket in [warm, *sockets]:
        await socket.disconnect(timeout=30)
    return (
        f"sockets x{count} (in-process ASGI): {connect_cpu:.2f} ms CPU per connect ({count / connect_wall:.0f}/s"
        f" wall); idle {idle:.1f} % of a core per 5,000 over {hold:g} s; {per_socket:.1f} KiB RSS and"
        f" {held / count:.2f} Redis connections per socket"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--hold", type=float, default=45.0)
    parser.add_argument("--only", default="publish,group,sockets", help="comma-separated parts")
    args = parser.parse_args()
    prefix = f"rtcpu-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "messenger.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "realtime-cpu-bench-" + "x" * 40),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CHANNEL_LAYER_PREFIX": f"{prefix}:asgi",
            "CACHE_KEY_PREFIX": prefix,
            "REALTIME_PRESENCE_REDIS_PREFIX": f"{prefix}:presence",
            "RELAY_REDIS_PREFIX": f"{prefix}:relay",
            "LOG_LEVEL": "WARNING",
        }
    )
    global REDIS_PORT
    from urllib.parse import urlparse

    REDIS_PORT = urlparse(args.redis_url).port or 6379
    import django

    django.setup()
    try:
        parts = args.only.split(",")
        if "publish" in parts:
            print(measure_publish(args.rounds), flush=True)
        if "delivery" in parts:
            print(measure_delivery(min(args.rounds, 200)), flush=True)
        if "group" in parts:
            print(measure_group(args.members, args.rounds), flush=True)
        if "sockets" in parts:
            print(asyncio.run(measure_sockets(args.sockets, args.hold)), flush=True)
    finally:
        import redis

        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


REDIS_PORT = 6379

if __name__ == "__main__":
    main()
