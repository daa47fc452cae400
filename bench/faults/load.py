"""The steady mixed load and its ledger: what every client sent, what the server acknowledged,
what reached a socket, and every answer by feature and time (for "what kept working").

Who does what (the users come from `SEED`, run under the app's environment):

- three REST senders (1:1, `client_message_id`) and one group sender (REST), each sending its
  next message only once the previous one is acknowledged, so that the order a recipient's /sync
  must show is the order sent;
- two socket senders (`message.send` with `client_message_id`, acknowledged by `message.sent`);
- socket receivers for the recipients, on both ASGI processes, reconnecting to the other process
  when theirs goes (with a ticket from REST, as the README says a client does);
- a relay sender whose recipient's socket acks each `relay.envelope`;
- an uploader (small files held in memory by the server, and files over Django's 2.5 MiB
  in-memory limit, which spool to disk), and an inviter (one invitation email a second);
- probes once a second: login, history, typing, presence, opening a new socket.

A client's retry rule, as API.md asks of one: a 503 waits its Retry-After and sends again with the
same `client_message_id`; a cut connection or a timeout sends again too (the server may have
stored it: the id makes that harmless); any other 5xx is recorded as a violation and retried.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

REQUEST_TIMEOUT_SECONDS = 15.0
RETRY_CAP_SECONDS = 3.0  # a client waits at most this long even when Retry-After says more
SMALL_UPLOAD = 32 * 1024
SPOOLED_UPLOAD = 3 * 1024 * 1024  # past FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB): spooled to disk
LOGIN_PASSWORD = "faults-Correct-Horse-42"  # noqa: S105 (a throwaway account of the run)

FEATURES = ("login", "sends", "history", "sockets", "typing", "presence", "relay", "uploads", "emails")

SEED = """
import json, os
from django.contrib.auth.hashers import make_password
from django.db import transaction
from accounts.models import User
from accounts.tokens import issue_token_pair
from contacts.services import contact_request
from groups.services import group_create

count = int(os.environ["FAULTS_USERS"])
run = os.environ["FAULTS_RUN"]
unusable = make_password(None)
users = User.objects.bulk_create(
    User(username=f"f{run}_{i}", email=f"f{run}_{i}@faults.invalid", password=unusable, is_verified=True)
    for i in range(count)
)
login = users[-1]
login.set_password(os.environ["FAULTS_PASSWORD"])
login.save(update_fields=["password"])
ids = [u.pk for u in users]
with transaction.atomic():
    tokens = [issue_token_pair(user_id=pk).access for pk in ids]
contact_request(requester_id=ids[0], addressee_id=ids[1])
contact_request(requester_id=ids[1], addressee_id=ids[0])
# The typist (7) types to R0 from the load's first second: contacts, not only a conversation
# that its first message would start (before it, `typing` is refused with not_a_contact).
contact_request(requester_id=ids[7], addressee_id=ids[0])
contact_request(requester_id=ids[0], addressee_id=ids[7])
group = group_create(creator_id=ids[5], name="faults", member_ids=[ids[0], ids[1], ids[6]])
print(json.dumps({"ids": [str(pk) for pk in ids], "tokens": tokens, "group": str(group.pk),
                  "login": login.username}))
"""
USERS = 12
# The roles, by index into the seeded users.
R0, R1 = 0, 1  # recipients; R0 holds a socket on each ASGI process, R1 one
REST_SENDERS = ((2, R0), (3, R1), (4, R0))
GROUP_SENDER = 5  # to the group {0, 1, 5, 6}
GROUP_MEMBERS = (0, 1, 5, 6)
SOCKET_SENDERS = ((6, R1), (7, R0))
RELAY_SENDER = 8  # to R0 (its sockets ack each envelope) and to RELAY_OFFLINE
RELAY_OFFLINE = 4  # holds no socket: its envelopes wait in the relay until the end
UPLOADER = 9
INVITER = 10
LOGIN_USER = 11


def b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


@dataclass
class Answer:
    t: float  # seconds since the load started
    feature: str
    ok: bool
    status: int  # 0: no answer (connection refused or cut, timeout)
    retry_after: str | None = None
    what: str = ""


@dataclass
class Send:
    channel: str  # rest, group, socket
    sender: str
    audience: tuple[str, ...]  # who must find it in /sync (sender included)
    client_message_id: str
    id: str = ""
    attempts: int = 0
    acked_at: float | None = None


@dataclass
class Ledger:
    started: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    live: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # "user#device" -> id -> n
    relay_queued: dict[str, str] = field(default_factory=dict)  # envelope id -> recipient
    relay_received: Counter = field(default_factory=Counter)
    relay_offline: list[str] = field(default_factory=list)  # envelope ids queued to RELAY_OFFLINE
    first_hello: dict[str, float] = field(default_factory=dict)  # "user#device" -> its first socket up
    invitations: list[str] = field(default_factory=list)  # addresses answered 201
    uploads: list[str] = field(default_factory=list)  # media ids answered 201
    typing_received: int = 0
    reconnects: int = 0
    faults: list[tuple[str, float, float]] = field(default_factory=list)  # (name, start, end)

    def now(self) -> float:
        return time.monotonic() - self.started

    def answer(self, feature: str, status: int, headers=None, what: str = "") -> Answer:
        retry_after = headers.get("Retry-After") if headers is not None else None
        record = Answer(self.now(), feature, 200 <= status < 300, status, retry_after, what)
        self.answers.append(record)
        return record


@dataclass
class World:
    """What the load runs against: the servers' URLs and the seeded users."""

    rest_url: str
    ws_urls: list[str]
    ids: list[str]
    tokens: list[str]
    group: str
    login: str


def headers_for(world: World, user: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[user]}"}


def message_body(recipient: str) -> dict:
    return {
        "recipient_id": recipient,
        "encrypted_content": b64(96),
        "encrypted_session_key": b64(48),
        "sender_encrypted_session_key": b64(48),
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes-256-gcm",
        "client_message_id": str(uuid.uuid4()),
    }


def group_body(world: World) -> dict:
    return {
        "encrypted_content": b64(96),
        "encrypted_session_keys": {world.ids[m]: b64(48) for m in GROUP_MEMBERS},
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes-256-gcm",
        "client_message_id": str(uuid.uuid4()),
    }


class Load:
    def __init__(
        self, world: World, ledger: Ledger, *, pace: float = 1.0, delete_uploads: bool = False
    ) -> None:
        self.world = world
        self.ledger = ledger
        self.pace = pace  # multiplies every actor's pause between actions
        # The soak deletes each upload once stored (as a client deleting an attachment does), so
        # that moto, which holds objects in memory, measures the app rather than the stored bytes.
        self.delete_uploads = delete_uploads
        self.stopping = asyncio.Event()
        # A new connection per request, as nginx talks to its upstreams: a kept-alive connection
        # that gunicorn closes as the next request goes out would be a cut the server never made.
        self.http = httpx.AsyncClient(
            base_url=world.rest_url,
            trust_env=False,
            timeout=REQUEST_TIMEOUT_SECONDS,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self.tasks: list[asyncio.Task] = []
        self.receivers: list[Receiver] = []

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds * self.pace)

    # --- REST with the retry rule ---------------------------------------------------------------

    async def request(self, feature: str, method: str, path: str, *, user: int, what: str = "", **kwargs):
        """One request; its answer recorded. None when no answer came."""
        try:
            response = await self.http.request(method, path, headers=headers_for(self.world, user), **kwargs)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            self.ledger.answer(feature, 0, what=f"{what or path}: {type(exc).__name__}")
            return None
        self.ledger.answer(feature, response.status_code, response.headers, what=what or path)
        return response

    async def until_acked(
        self, feature: str, path: str, body: dict, *, user: int, deadline: float
    ) -> dict | None:
        """POSTs `body` until a 2xx (the stored object), as a client does; None if never by the deadline."""
        while time.monotonic() < deadline:
            response = await self.request(feature, "POST", path, user=user, json=body, what=path)
            if response is not None and response.status_code in (200, 201):
                return response.json()
            if response is not None and response.status_code < 500 and response.status_code != 429:
                return None  # refused for good: a bug in the harness or the server, reported
            wait = 0.5
            if response is not None and response.headers.get("Retry-After"):
                wait = min(float(response.headers["Retry-After"]), RETRY_CAP_SECONDS)
            await asyncio.sleep(wait)
        return None

    # --- actors ---------------------------------------------------------------------------------

    async def rest_sender(self, sender: int, recipient: int, every: float) -> None:
        world = self.world
        while not self.stopping.is_set():
            body = message_body(world.ids[recipient])
            send = Send(
                "rest",
                world.ids[sender],
                (world.ids[sender], world.ids[recipient]),
                body["client_message_id"],
            )
            self.ledger.sends.append(send)
            stored = await self.until_acked(
                "sends", "/api/v1/messages/send", body, user=sender, deadline=time.monotonic() + 120
            )
            if stored is not None:
                send.id, send.acked_at = stored["id"], self.ledger.now()
            await self.pause(every)

    async def group_sender(self, every: float) -> None:
        world = self.world
        audience = tuple(world.ids[m] for m in GROUP_MEMBERS)
        while not self.stopping.is_set():
            body = group_body(world)
            send = Send("group", world.ids[GROUP_SENDER], audience, body["client_message_id"])
            self.ledger.sends.append(send)
            stored = await self.until_acked(
                "sends",
                f"/api/v1/groups/{world.group}/messages",
                body,
                user=GROUP_SENDER,
                deadline=time.monotonic() + 120,
            )
            if stored is not None:
                send.id, send.acked_at = stored["id"], self.ledger.now()
            await self.pause(every)

    async def ticket(self, user: int) -> str | None:
        response = await self.request(
            "sockets", "POST", "/api/v1/auth/ws-ticket", user=user, what="ws-ticket"
        )
        if response is None or response.status_code != 200:
            return None
        return response.json()["ticket"]

    async def open_socket(self, user: int, server: int):
        """An authenticated socket (its hello read) on ASGI process `server`, or on the other one
        if that does not answer (what a proxy in front of both does for a client); with the
        index of the process it is on. (None, server) when neither opens one."""
        reasons = []
        for index in (server, 1 - server):
            ticket = await self.ticket(user)
            if ticket is None:
                return None, server
            try:
                connection = await connect(
                    f"{self.world.ws_urls[index]}?ticket={ticket}",
                    proxy=None,
                    open_timeout=5,
                    close_timeout=1,
                )
                hello = json.loads(await asyncio.wait_for(connection.recv(), 5))
            except (OSError, TimeoutError, InvalidHandshake, InvalidStatus, ConnectionClosed) as exc:
                reasons.append(type(exc).__name__)
                continue
            if hello.get("type") != "hello":
                reasons.append(str(hello.get("type")))
                await connection.close()
                continue
            self.ledger.answer("sockets", 200, what="open socket")
            return connection, index
        self.ledger.answer("sockets", 0, what=f"open socket: {', '.join(reasons)}")
        return None, server

    async def socket_sender(self, sender: int, recipient: int, server: int, every: float) -> None:
        """`message.send` frames; the next only after `message.sent`. A dead socket: reconnect to
        the other process and send the same frame again (same client_message_id)."""
        world = self.world
        connection = None
        pending: tuple[Send, dict] | None = None
        while not self.stopping.is_set() or pending is not None:
            if connection is None:
                connection, server = await self.open_socket(sender, server)
                if connection is None:
                    await asyncio.sleep(0.5)
                    if self.stopping.is_set() and time.monotonic() > self.drain_deadline:
                        return
                    continue
            if pending is None:
                if self.stopping.is_set():
                    break
                body = message_body(world.ids[recipient])
                send = Send(
                    "socket",
                    world.ids[sender],
                    (world.ids[sender], world.ids[recipient]),
                    body["client_message_id"],
                )
                self.ledger.sends.append(send)
                pending = (send, body)
            send, body = pending
            send.attempts += 1
            try:
                await connection.send(json.dumps({"type": "message.send", "data": body}))
                answer = await self._await_answer(connection, body["client_message_id"])
            except (ConnectionClosed, OSError, TimeoutError) as exc:
                self.ledger.answer("sends", 0, what=f"socket send: {type(exc).__name__}")
                with contextlib.suppress(Exception):
                    await connection.close()
                connection, server = None, 1 - server
                self.ledger.reconnects += 1
                continue
            if answer["type"] == "message.sent":
                self.ledger.answer("sends", 201 if answer["data"].get("created") else 200, what="socket send")
                send.id, send.acked_at = answer["data"]["id"], self.ledger.now()
                pending = None
                await self.pause(every)
            else:  # an error frame: REST's status, retry_after on a 503 or 429
                data = answer["data"]
                headers = {"Retry-After": str(data["retry_after"])} if "retry_after" in data else {}
                self.ledger.answer(
                    "sends", int(data.get("status", 0)), headers, what=f"socket send {data.get('code')}"
                )
                if int(data.get("status", 500)) < 500 and data.get("status") != 429:
                    pending = None  # refused for good
                await asyncio.sleep(min(float(data.get("retry_after", 0.5)), RETRY_CAP_SECONDS))
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _await_answer(self, connection, client_message_id: str) -> dict:
        async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
            while True:
                frame = json.loads(await connection.recv())
                data = frame.get("data") or {}
                if frame["type"] == "message.sent" and data.get("client_message_id") == client_message_id:
                    return frame
                if frame["type"] == "error" and data.get("frame") == "message.send":
                    return frame

    async def relay_sender(self, every: float) -> None:
        world = self.world
        tick = 0
        while not self.stopping.is_set():
            tick += 1
            recipient = RELAY_OFFLINE if tick % 4 == 0 else R0
            body = {"recipient_id": world.ids[recipient], "payload": b64(64), "ttl_seconds": 3600}
            response = await self.request(
                "relay", "POST", "/api/v1/relay/queue", user=RELAY_SENDER, json=body, what="relay queue"
            )
            if response is not None and response.status_code == 201:
                envelope = response.json()["id"]
                if recipient == R0:
                    self.ledger.relay_queued[envelope] = world.ids[R0]
                else:
                    self.ledger.relay_offline.append(envelope)
            await self.pause(every)

    async def uploader(self, every: float) -> None:
        sizes = [SMALL_UPLOAD, SPOOLED_UPLOAD]
        index = 0
        while not self.stopping.is_set():
            size = sizes[index % 2]
            index += 1
            files = {"file": (f"f{index}.bin", os.urandom(size), "application/octet-stream")}
            response = await self.request(
                "uploads",
                "POST",
                "/api/v1/media/upload",
                user=UPLOADER,
                files=files,
                what=f"upload {size // 1024} KiB",
            )
            if response is not None and response.status_code == 201:
                media_id = response.json()["id"]
                self.ledger.uploads.append(media_id)
                if self.delete_uploads:
                    deleted = await self.request(
                        "uploads", "DELETE", f"/api/v1/media/{media_id}", user=UPLOADER, what="delete upload"
                    )
                    if deleted is not None and deleted.status_code == 204:
                        self.ledger.uploads.remove(media_id)
            await self.pause(every)

    async def inviter(self, every: float) -> None:
        while not self.stopping.is_set():
            address = f"invitee-{uuid.uuid4().hex[:12]}@faults.invalid"
            response = await self.request(
                "emails",
                "POST",
                "/api/v1/invitations/send",
                user=INVITER,
                json={"email": address},
                what="invitation",
            )
            if response is not None and response.status_code == 201:
                self.ledger.invitations.append(address)
            await self.pause(every)

    async def prober(self, every: float) -> None:
        world = self.world
        tick = 0
        while not self.stopping.is_set():
            tick += 1
            if tick % 2 == 0:
                try:
                    response = await self.http.post(
                        "/api/v1/auth/login", json={"login": world.login, "password": LOGIN_PASSWORD}
                    )
                    self.ledger.answer("login", response.status_code, response.headers, "login")
                except (httpx.TransportError, httpx.TimeoutException) as exc:
                    self.ledger.answer("login", 0, what=f"login: {type(exc).__name__}")
            await self.request(
                "history", "GET", f"/api/v1/messages/conversation/{world.ids[2]}", user=R0, what="history"
            )
            response = await self.request(
                "presence",
                "GET",
                "/api/v1/presence",
                user=R0,
                params={"user_ids": world.ids[R1]},
                what="presence",
            )
            if response is not None and response.status_code == 200:
                results = response.json()["results"]
                if not any(entry["online"] for entry in results):
                    self.ledger.answers[-1].ok = False  # answered, but R1 (socket open) shown offline
            if tick % 3 == 0:
                connection, _ = await self.open_socket(LOGIN_USER, tick % 2)
                if connection is not None:
                    await connection.close()
            await self.pause(every)

    async def typing_sender(self, every: float) -> None:
        """`typing` frames to R0 from its own socket (the two are contacts: seeded); an error frame
        is recorded as that feature's answer."""
        sender, recipient = SOCKET_SENDERS[1]
        frame = json.dumps(
            {"type": "typing", "data": {"to_user_id": self.world.ids[recipient], "state": "start"}}
        )
        connection, server = None, 1
        while not self.stopping.is_set():
            if connection is None:
                connection, server = await self.open_socket(sender, server)
                if connection is None:
                    await self.pause(0.5)
                    continue
            try:
                await connection.send(frame)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(every * self.pace):
                        while True:
                            answer = json.loads(await connection.recv())
                            if answer["type"] == "error" and answer["data"].get("frame") == "typing":
                                data = answer["data"]
                                headers = (
                                    {"Retry-After": str(data["retry_after"])} if "retry_after" in data else {}
                                )
                                self.ledger.answer(
                                    "typing",
                                    int(data.get("status", 0)),
                                    headers,
                                    what=f"typing {data.get('code')}",
                                )
            except (ConnectionClosed, OSError):
                connection = None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def typing_watch(self) -> None:
        """Typing works when R0's sockets keep receiving the socket sender's `typing` frames."""
        seen = 0
        while not self.stopping.is_set():
            await self.pause(2.0)
            if self.stopping.is_set():
                return  # the typing sender stops too: no verdict on a cut-short window
            got = self.ledger.typing_received
            self.ledger.answer("typing", 200 if got > seen else 0, what="typing received in the last 2 s")
            seen = got

    # --- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.drain_deadline = float("inf")
        self.receivers = [Receiver(self, R0, 0), Receiver(self, R0, 1), Receiver(self, R1, 1)]
        actors = [
            *(self.rest_sender(s, r, 0.15) for s, r in REST_SENDERS),
            self.group_sender(0.3),
            *(self.socket_sender(s, r, index % 2, 0.2) for index, (s, r) in enumerate(SOCKET_SENDERS)),
            self.relay_sender(0.5),
            self.uploader(1.0),
            self.inviter(1.0),
            self.prober(1.0),
            self.typing_sender(1.0),
            self.typing_watch(),
            *(receiver.run() for receiver in self.receivers),
        ]
        self.tasks = [asyncio.ensure_future(actor) for actor in actors]

    async def stop(self, drain_seconds: float = 60.0) -> None:
        """Stops starting new work; what is in flight finishes (retries included) within the drain."""
        self.drain_deadline = time.monotonic() + drain_seconds
        self.stopping.set()
        senders = self.tasks[: -len(self.receivers)]
        done, pending = await asyncio.wait(senders, timeout=drain_seconds)
        for task in pending:
            task.cancel()
        for task in done:
            if (failure := task.exception()) is not None:
                raise failure
        await asyncio.sleep(3.0)  # the last deliveries and relay acks land
        for receiver in self.receivers:
            receiver.done = True
        for task in self.tasks[-len(self.receivers) :]:
            if task.done() and (failure := task.exception()) is not None:
                raise failure  # a receiver died of a bug: its counts cannot be trusted
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()


class Receiver:
    """One device's socket: counts every message it is handed live, acks relay envelopes, and on a
    drop reconnects to the other ASGI process (the /sync accounting at the end is its catch-up)."""

    def __init__(self, load: Load, user: int, server: int) -> None:
        self.load, self.user, self.server = load, user, server
        self.device = server  # the process it starts on names it
        self.done = False

    async def run(self) -> None:
        ledger = self.load.ledger
        user_id = self.load.world.ids[self.user]
        device = f"{user_id}#{self.device}"  # each socket a device of its own: its misses its own
        while not self.done:
            connection, self.server = await self.load.open_socket(self.user, self.server)
            if connection is None:
                await asyncio.sleep(0.5)
                continue
            ledger.first_hello.setdefault(device, ledger.now())
            try:
                async for raw in connection:
                    frame = json.loads(raw)
                    kind, data = frame["type"], frame.get("data") or {}
                    if kind in ("message.new", "group.message.new"):
                        ledger.live[device][data["id"]] += 1
                    elif kind == "typing":
                        ledger.typing_received += 1
                    elif kind == "relay.envelope":
                        if ledger.relay_received[data["id"]] == 0:
                            ledger.answer("relay", 200, what="relay delivered")
                        ledger.relay_received[data["id"]] += 1
                        await connection.send(json.dumps({"type": "relay.ack", "data": {"id": data["id"]}}))
            except (ConnectionClosed, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    await connection.close()
            if not self.done:
                ledger.reconnects += 1
                self.server = 1 - self.server
