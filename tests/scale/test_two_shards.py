"""Issue 19's scale-out proof: two ASGI processes (uvicorn, `messenger.asgi`) and the channel layer
sharded over two Redis instances by channels_redis itself (CHANNEL_LAYER_REDIS_URLS).

- 1,000 messages (1:1 and group), sent through REST to both processes, reach every socket they
  concern (sender's and recipients', on either process, a few users holding one socket on each)
  exactly once, and /sync agrees.
- Both Redis instances hold channel-layer groups, each on the shard channels_redis's hash names:
  the sharding is real, and every process agrees on it.
- Then one process is SIGKILLed while messages go on; the client retries a send that hit the dead
  process on the other (same client_message_id), its sockets reconnect there (ticket, hello) and
  GET /sync from their last token returns every message sent meanwhile exactly once, in order;
  the sockets that stayed up got each of them live, once.

Real mode only (PostgreSQL and Redis: a server process cannot see the test's SQLite file or its
in-memory layer); it starts its own second redis-server on a free loopback port and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed

from core.events import realtime_chat_group_name, realtime_user_group_name
from tests.messaging.helpers import send_body
from tests.realtime.real_server import MANY_REGISTRATIONS
from tests.s3 import free_port, stop_process
from tests.servers import (
    START_TIMEOUT_SECONDS,
    Account,
    Recipient,
    Server,
    delete_keys,
    group_message_body,
    open_socket,
    register,
    server_env,
    skip_unless_postgres_and_redis,
    start_server,
    wait_until_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

USERS = 20
TWO_DEVICE_USERS = 4  # users 0..3 hold one socket on each process (a phone and a laptop)
GROUPS = 4
GROUP_SIZE = 6
MESSAGES = 1000  # phase 1, issue 19's number
GROUP_SHARE = 0.25  # of the messages, the rest 1:1
SENDS_IN_FLIGHT = 8
OUTAGE_MESSAGES = 120  # phase 2, one at a time, so that their order is the order sent
KILL_AFTER = 20  # outage messages sent before the process is killed
SYNC_PAGE = 25  # small, so that recovery pages through has_more
DELIVERY_TIMEOUT_SECONDS = 60.0
TEST_TIMEOUT_SECONDS = 240.0
DELIVERED = ("message.new", "group.message.new")


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Cluster:
    servers: list[Server]
    shard_urls: list[str]
    layer_prefix: str


def start_redis(tmp: Path) -> tuple[subprocess.Popen, str]:
    """A throwaway redis-server on a free loopback port: no persistence, its own directory."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.skip("redis-server is not installed (the second channel-layer shard)")
    port = free_port()
    directory = tmp / "redis"
    directory.mkdir()
    log = (tmp / "redis.log").open("wb")
    process = subprocess.Popen(
        [
            *(redis_server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            if client.ping():
                return process, url
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process(process)
                raise AssertionError(
                    f"redis-server did not start:\n{(tmp / 'redis.log').read_text()}"
                ) from None
            time.sleep(0.1)
        finally:
            client.close()


@pytest.fixture
def cluster(transactional_db, django_db_blocker, tmp_path_factory) -> Iterator[Cluster]:
    """Two uvicorn processes sharing the test database, REDIS_URL (cache, tickets, presence) and a
    channel layer over two shards: REDIS_URL's instance and a second redis-server. Everything is
    stopped after the test, before the transactional flush (see test_cross_process's fixture)."""
    skip_unless_postgres_and_redis()
    tmp = tmp_path_factory.mktemp("two-shards")
    prefix = f"test-scale-{uuid.uuid4().hex[:12]}"
    redis_process, second_shard = start_redis(tmp)
    servers: list[Server] = []
    try:
        shard_urls = [settings.REDIS_URL, second_shard]
        with django_db_blocker.unblock():
            env = server_env(prefix, tmp)
        env.update(MANY_REGISTRATIONS)
        env["REALTIME_PRESENCE_REDIS_PREFIX"] = f"{prefix}:presence"
        # Every process lists the same shards in the same order (README, "Scaling").
        env["CHANNEL_LAYER_REDIS_URLS"] = ",".join(shard_urls)
        for index in range(2):
            servers.append(start_server("uvicorn", env, tmp / f"uvicorn-{index}.log"))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for server in servers:
            wait_until_ready(server, deadline)
        yield Cluster(servers=servers, shard_urls=shard_urls, layer_prefix=env["CHANNEL_LAYER_PREFIX"])
    finally:
        for server in servers:
            stop_process(server.process)
        stop_process(redis_process)
        delete_keys(prefix)


# --- clients -----------------------------------------------------------------------------------


class Listener:
    """One client socket, read in the background: how many times each message id arrived."""

    def __init__(self, account: Account, server: Server, socket) -> None:
        self.account = account
        self.server = server
        self.connection = socket.connection
        self.counts: Counter[str] = Counter()
        self.client_ids: dict[str, str] = {}
        self.frame_types: Counter[str] = Counter()
        for frame in socket.unclaimed:
            self._take(frame)
        self.task = asyncio.ensure_future(self._read())

    def _take(self, frame: dict) -> None:
        self.frame_types[frame["type"]] += 1
        if frame["type"] in DELIVERED:
            self.counts[frame["data"]["id"]] += 1
            self.client_ids[frame["data"]["id"]] = frame["data"]["client_message_id"]

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.connection:
                self._take(json.loads(raw))

    @property
    def down(self) -> bool:
        return self.task.done()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.connection.close()
        with contextlib.suppress(Exception):
            await self.task


async def listen(server: Server, account: Account) -> Listener:
    # The ticket comes from the same process here; tests/realtime shows any process redeems it.
    return Listener(account, server, await open_socket(server, account, ticket_from=server))


@dataclass
class Sent:
    """One message as the test sent it: who must see it, and the server's id for it."""

    index: int
    sender: Account
    audience: frozenset[str]  # user ids whose devices receive it and whose /sync lists it
    path: str
    body: dict
    id: str = ""
    statuses: list[int] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)  # the processes it was posted to, in order


async def post(client: httpx.AsyncClient, account: Account, path: str, body: dict) -> httpx.Response:
    return await client.post(path, json=body, headers={"Authorization": f"Bearer {account.access}"})


async def send(clients: list[httpx.AsyncClient], message: Sent, *, through: int, alive: list[bool]) -> None:
    """POST the message through process `through`; if that one is dead (connection refused or cut),
    the client retries on the other with the same body, client_message_id included, as a real
    client behind a load balancer would."""
    order = [through, 1 - through]
    for attempt in order:
        if not alive[attempt] and attempt != order[-1]:
            continue
        message.attempts.append(attempt)
        try:
            response = await post(clients[attempt], message.sender, message.path, message.body)
        except httpx.TransportError:
            alive[attempt] = False
            continue
        message.statuses.append(response.status_code)
        assert response.status_code in (200, 201), response.text
        data = response.json()
        assert data["client_message_id"] == message.body["client_message_id"]
        message.id = data["id"]
        return
    raise AssertionError(f"message {message.index}: no process answered")


async def sync_all(client: httpx.AsyncClient, account: Account, since: str) -> tuple[list[dict], str]:
    """Every /sync item after `since`, paging through has_more; and the last next_since."""
    items: list[dict] = []
    headers = {"Authorization": f"Bearer {account.access}"}
    while True:
        response = await client.get(
            "/api/v1/sync", params={"since": since, "limit": SYNC_PAGE}, headers=headers
        )
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        since = page["next_since"]
        if not page["has_more"]:
            return items, since


async def fresh_token(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.get("/api/v1/sync", headers={"Authorization": f"Bearer {account.access}"})
    assert response.status_code == 200, response.text
    return response.json()["next_since"]


def delivered_ids(items: list[dict]) -> list[str]:
    return [item["data"]["id"] for item in items if item["type"] in DELIVERED]


async def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def channel_layer_group_keys(redis_url: str, layer_prefix: str) -> set[str]:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return {key.decode() for key in client.scan_iter(match=f"{layer_prefix}:group:*", count=1000)}
    finally:
        client.close()


# --- the test ----------------------------------------------------------------------------------


async def test_two_processes_two_shards_exact_delivery_then_recovery_after_a_process_dies(cluster):
    async with asyncio.timeout(TEST_TIMEOUT_SECONDS):
        await run_scenario(cluster)


async def run_scenario(cluster: Cluster) -> None:
    rng = random.Random(19)
    servers = cluster.servers
    clients = [httpx.AsyncClient(base_url=s.url, trust_env=False, timeout=30) for s in servers]
    listeners: list[Listener] = []
    try:
        users = [await register(servers[i % 2], f"u{i}") for i in range(USERS)]
        by_id = {user.id: user for user in users}
        tokens = {user.id: await fresh_token(clients[0], user) for user in users}

        # Sockets spread over both processes; the first users also hold one on the other.
        for i, user in enumerate(users):
            listeners.append(await listen(servers[i % 2], user))
            if i < TWO_DEVICE_USERS:
                listeners.append(await listen(servers[1 - i % 2], user))

        groups: list[tuple[str, list[str]]] = []
        for g in range(GROUPS):
            members = rng.sample([user.id for user in users], GROUP_SIZE)
            creator = by_id[members[0]]
            response = await post(
                clients[g % 2], creator, "/api/v1/groups", {"name": f"G{g}", "member_ids": members[1:]}
            )
            assert response.status_code == 201, response.text
            groups.append((response.json()["id"], members))
        # A member's socket joins the chat group's layer group before it forwards member.added.
        joined = Counter(member for _, members in groups for member in members)
        await wait_for(
            lambda: all(
                listener.frame_types["group.member.added"] >= joined[listener.account.id]
                for listener in listeners
            ),
            "every socket to join its chat groups",
        )

        def new_message(index: int, *, to_user: Account | None = None) -> Sent:
            if to_user is None and rng.random() < GROUP_SHARE:
                group_id, members = rng.choice(groups)
                sender = by_id[rng.choice(members)]
                return Sent(
                    index=index,
                    sender=sender,
                    audience=frozenset(members),
                    path=f"/api/v1/groups/{group_id}/messages",
                    body=group_message_body(members),
                )
            recipient = to_user or rng.choice(users)
            sender = rng.choice([user for user in users if user.id != recipient.id])
            return Sent(
                index=index,
                sender=sender,
                audience=frozenset({sender.id, recipient.id}),
                path="/api/v1/messages/send",
                body=send_body(Recipient(recipient)),
            )

        # --- phase 1: 1,000 messages through both processes, each arrives once -----------------
        alive = [True, True]
        phase1 = [new_message(index) for index in range(MESSAGES)]
        in_flight = asyncio.Semaphore(SENDS_IN_FLIGHT)

        async def bounded(message: Sent) -> None:
            async with in_flight:
                await send(clients, message, through=message.index % 2, alive=alive)

        started = time.monotonic()
        await asyncio.gather(*(bounded(message) for message in phase1))
        sending_seconds = time.monotonic() - started
        assert all(message.statuses == [201] for message in phase1), "each was stored once, on its first try"

        def expected(listener: Listener, messages: list[Sent]) -> set[str]:
            return {m.id for m in messages if listener.account.id in m.audience}

        await wait_for(
            lambda: all(set(listener.counts) >= expected(listener, phase1) for listener in listeners),
            "every phase-1 message on every socket it concerns",
        )
        await asyncio.sleep(1.0)  # a late duplicate would land now
        client_message_ids = {m.id: m.body["client_message_id"] for m in phase1}
        for listener in listeners:
            wanted = expected(listener, phase1)
            assert set(listener.counts) == wanted, (
                f"{listener.account.id} on {listener.server.port}: extra ids"
            )
            assert all(listener.counts[i] == 1 for i in wanted), (
                f"duplicates on a socket: {[i for i in wanted if listener.counts[i] > 1][:5]}"
            )
            assert all(listener.client_ids[i] == client_message_ids[i] for i in wanted)
        deliveries = sum(sum(listener.counts.values()) for listener in listeners)

        # /sync, the source of truth, agrees: each user's phase-1 messages once, in order sent
        # per sender; the clients keep the token it ends on.
        for user in users:
            items, tokens[user.id] = await sync_all(clients[1], user, tokens[user.id])
            ids = delivered_ids(items)
            assert len(ids) == len(set(ids))
            assert set(ids) == {m.id for m in phase1 if user.id in m.audience}

        # The sharding is real: both instances hold layer groups, each on the shard channels_redis
        # hashes its name to (the same map every process computes), none on the other.
        from channels_redis.core import RedisChannelLayer

        layer = RedisChannelLayer(hosts=[{"address": url} for url in cluster.shard_urls])
        names = [realtime_user_group_name(user.id) for user in users]
        names += [realtime_chat_group_name(group_id) for group_id, _ in groups]
        on_shard = [channel_layer_group_keys(url, cluster.layer_prefix) for url in cluster.shard_urls]
        for name in names:
            key = f"{cluster.layer_prefix}:group:{name}"
            home = layer.consistent_hash(name)
            assert key in on_shard[home] and key not in on_shard[1 - home], (name, home)
        assert all(on_shard), f"a shard holds no layer group: {[len(keys) for keys in on_shard]}"

        # --- phase 2: one process dies while messages go on -------------------------------------
        doomed = 0
        down_listeners = [listener for listener in listeners if listener.server is servers[doomed]]
        down_users = {listener.account.id for listener in down_listeners}
        others = [user for user in users if user.id not in down_users]
        # Users whose every socket was there: nothing reaches them until they are back.
        down_only = down_users - {
            listener.account.id for listener in listeners if listener not in down_listeners
        }
        # Right after the kill, one 1:1 message to each user of the dead process (from a user of
        # the live one), before any of them is back: each has something only /sync can give it.
        phase2: list[Sent] = []
        missed_on_purpose: dict[str, str] = {}
        reconnected: list[tuple[Listener, int]] = []  # (new socket, first index sent after hello)
        catch_up_sent = asyncio.Event()

        async def reconnect(old: Listener) -> None:
            await old.task  # the socket drops with its process
            await catch_up_sent.wait()  # the client's backoff, while messages go on
            new = await listen(servers[1 - doomed], old.account)
            reconnected.append((new, len(phase2)))

        reconnects = [asyncio.ensure_future(reconnect(listener)) for listener in down_listeners]
        for index in range(OUTAGE_MESSAGES):
            if index == KILL_AFTER:
                servers[doomed].process.kill()  # SIGKILL: no close frames, no clean-up
                servers[doomed].process.wait(timeout=10)
                for user_id in sorted(down_users):
                    recipient = by_id[user_id]
                    message = new_message(MESSAGES + len(phase2), to_user=recipient)
                    message.sender = rng.choice(others)
                    message.audience = frozenset({message.sender.id, recipient.id})
                    phase2.append(message)
                    await send(clients, message, through=doomed, alive=alive)
                    if user_id in down_only:
                        missed_on_purpose[user_id] = message.id
                catch_up_sent.set()
            message = new_message(MESSAGES + len(phase2))
            phase2.append(message)
            await send(clients, message, through=index % 2, alive=alive)
        await asyncio.gather(*reconnects)
        listeners += [new for new, _ in reconnected]
        assert not alive[doomed] and all(listener.down for listener in down_listeners)
        # The first send routed to the dead process failed to connect and was retried on the
        # other (the client then routes around it); each message was stored once.
        assert phase2[KILL_AFTER].attempts == [doomed, 1 - doomed]
        assert all(message.attempts == [1 - doomed] for message in phase2[KILL_AFTER + 1 :])
        assert all(message.statuses == [201] for message in phase2)

        # Live: sockets that stayed up got every outage message once; reconnected ones got once
        # each message sent after their hello, and nothing twice.
        survivors = [listener for listener in listeners if listener not in down_listeners]
        since_hello = {id(new): {m.id for m in phase2[first:]} for new, first in reconnected}

        def live_expected(listener: Listener) -> set[str]:
            wanted = expected(listener, phase2)
            return wanted & since_hello[id(listener)] if id(listener) in since_hello else wanted

        await wait_for(
            lambda: all(set(listener.counts) >= live_expected(listener) for listener in survivors),
            "every outage message on every live socket it concerns",
        )
        await asyncio.sleep(1.0)
        phase2_ids = {m.id for m in phase2}
        for listener in survivors:
            got = {i for i in listener.counts if i in phase2_ids}
            assert got >= live_expected(listener)
            assert got <= expected(listener, phase2)
            assert all(listener.counts[i] == 1 for i in got)

        # Recovery: /sync from the last token returns each outage message once, in the order sent.
        for user in users:
            items, _ = await sync_all(clients[1 - doomed], user, tokens[user.id])
            assert delivered_ids(items) == [m.id for m in phase2 if user.id in m.audience], user.id
        # And it gave each user who was only on the dead process what no socket had received.
        assert missed_on_purpose
        for user_id, message_id in missed_on_purpose.items():
            assert all(
                message_id not in listener.counts for listener in listeners if listener.account.id == user_id
            )
    finally:
        for listener in listeners:
            await listener.close()
        for client in clients:
            await client.aclose()
    print(
        f"\n{MESSAGES} messages through 2 processes in {sending_seconds:.1f}s, {deliveries} socket "
        f"deliveries, layer groups per shard {[len(keys) for keys in on_shard]}; "
        f"{len(down_listeners)} sockets moved after the kill"
    )
