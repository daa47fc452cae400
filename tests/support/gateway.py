"""Sockets on /ws/ through the real ASGI application, and REST calls from async tests.

Events travel over the configured channel layer (Redis in real mode, in memory embedded); the
sockets are `tests.sockets.Socket`s, so the test's teardown ends any a test left open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from rest_framework_simplejwt.tokens import RefreshToken

from messenger.asgi import application
from tests.accounts.helpers import session_for
from tests.conftest import bearer_client
from tests.sockets import Socket

NOTHING_WITHIN = 0.3  # seconds to wait when asserting that no frame arrives
FRAME_TIMEOUT = 5  # seconds for an expected frame to arrive (a failure, never a measurement)
QUIET = 0.3  # seconds with no further frame after the expected ones: a duplicate shows up here

Frame = dict[str, Any]


async def rest(user, method: str, path: str, body: dict | None = None):
    """A REST call as `user` (a Bearer token), from an async test."""

    def call():
        return getattr(bearer_client(user), method)(path, body, format="json")

    return await sync_to_async(call)()


async def connect(path: str = "/ws/") -> Socket:
    communicator = Socket(application, path)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def authenticated(access: str) -> tuple[Socket, dict]:
    communicator = await connect()
    await communicator.send_json_to({"type": "auth", "data": {"token": access}})
    hello = await communicator.receive_json_from(timeout=3)
    assert hello["type"] == "hello", hello
    return communicator, hello


async def socket_for(user) -> Socket:
    session = await sync_to_async(session_for)(user)
    communicator, _ = await authenticated(session["access"])
    return communicator


async def closed_with(communicator: Socket) -> int:
    """The code the server closed the socket with; the close handshake is then completed as a
    server does (`websocket.disconnect`), and the consumer's clean-up awaited to its end."""
    output = await communicator.receive_output(timeout=3)
    assert output["type"] == "websocket.close", output
    await communicator.end(output["code"])
    return output["code"]


async def next_frame_of(communicator: Socket, frame_type: str) -> dict:
    """The next frame of `frame_type`, skipping any other (for frames the test is not about)."""
    while True:
        frame = await communicator.receive_json_from(timeout=3)
        if frame["type"] == frame_type:
            return frame


def _key(frame: Frame) -> tuple[str, str | None]:
    data = frame.get("data")
    return frame["type"], data.get("id") if isinstance(data, dict) else None


async def frames_in_any_order(communicator: Socket, *expected: tuple[str, str | None]) -> list[Frame]:
    """Exactly the frames `expected` as `(type, data's id)`, in whatever order they come: for
    frames the protocol gives no order between (an event through the channel layer and a push
    of the socket's own, docs/API.md). Any other frame before all of them came fails."""
    wanted = Counter(expected)
    received: list[Frame] = []
    while wanted:
        frame = await communicator.receive_json_from(timeout=FRAME_TIMEOUT)
        key = _key(frame)
        assert wanted[key] > 0, (f"unexpected {key}", received, frame)
        wanted[key] -= 1
        if not wanted[key]:
            del wanted[key]
        received.append(frame)
    return received


# --- several devices, for tests that compare what every socket received ----------------------


@dataclass(eq=False)
class Device:
    name: str
    user: Any
    socket: Socket

    @property
    def me(self) -> str:
        return str(self.user.pk)


async def receive_all_now(device: Device) -> list[Frame]:
    """Whatever is already queued on the socket, without waiting (the communicator cancels the
    application on a receive timeout, so never time out on purpose)."""
    frames = []
    while not await device.socket.receive_nothing(timeout=0.01, interval=0.005):
        frames.append(await device.socket.receive_json_from(timeout=FRAME_TIMEOUT))
    return frames


@pytest.fixture
async def devices() -> AsyncIterator[Callable[..., Awaitable[list[Device]]]]:
    """`await devices(("ann phone", ann), ("bob", bob))`: authenticated sockets, one per name,
    settled (what a socket pushes on connect, pending relay envelopes, is in the fresh fetch)."""
    opened: list[Device] = []

    async def open_devices(*named: tuple[str, Any]) -> list[Device]:
        batch = []
        for name, user in named:
            token = await sync_to_async(lambda user=user: str(RefreshToken.for_user(user).access_token))()
            socket = Socket(application, "/ws/")
            connected, _ = await socket.connect()
            assert connected
            await socket.send_json_to({"type": "auth", "data": {"token": token}})
            hello = await socket.receive_json_from(timeout=FRAME_TIMEOUT)
            assert hello["type"] == "hello", hello
            batch.append(Device(name, user, socket))
        opened.extend(batch)
        await asyncio.sleep(QUIET)
        for device in batch:
            settled = await receive_all_now(device)
            assert {frame["type"] for frame in settled} <= {"relay.envelope", "presence"}, settled
        return batch

    yield open_devices
    for device in opened:
        # A socket whose expected frame never came had its application cancelled by the
        # communicator's receive timeout: the test has failed already, its teardown need not.
        with contextlib.suppress(asyncio.CancelledError):
            await device.socket.disconnect()


# --- presence -----------------------------------------------------------------------------------


def befriend(a, b) -> None:
    """An accepted contact through the service (no events of the REST call to wait for)."""
    from contacts.services import contact_request

    contact_request(requester_id=a.pk, addressee_id=b.pk)
    contact_request(requester_id=b.pk, addressee_id=a.pk)  # asking back accepts


def presence_frame(user, *, online: bool, last_seen=None) -> dict:
    return {"type": "presence", "data": {"user_id": str(user.pk), "online": online, "last_seen": last_seen}}


async def presence_of(viewer, *users) -> list[dict]:
    ids = ",".join(str(user.pk) for user in users)
    response = await rest(viewer, "get", f"/api/v1/presence?user_ids={ids}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- the channel layer's per-loop locks -------------------------------------------------------


def _drop_stale_channel_locks() -> None:
    """channels_redis keeps one receive-cleanup lock per process prefix and forgets to count down
    a waiter that was cancelled (a socket closing while another receives), so the lock outlives
    the test, bound to its event loop; the next test's loop then fails on it ("bound to a
    different event loop"). One loop per process in production never sees this; here each test
    has its own loop, so unheld leftovers are dropped between tests."""
    locks = getattr(get_channel_layer(), "receive_clean_locks", None)
    if locks is None:
        return
    for key, lock in list(locks.locks.items()):
        if not lock.locked():
            del locks.locks[key]
            locks.wait_counts.pop(key, None)


@pytest.fixture
def fresh_channel_locks():
    """Use in every module that opens sockets (tests/realtime/conftest.py makes it autouse there)."""
    _drop_stale_channel_locks()
    yield
    _drop_stale_channel_locks()
