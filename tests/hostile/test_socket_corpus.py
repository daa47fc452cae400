"""A hostile socket corpus (issue 14): frames a malicious or broken client sends to /ws/, each of
which must get an `error` frame (4xx, never 500) or the documented close code, and no socket may
ever drop without a close frame.

- Through the ASGI application (Channels' WebsocketCommunicator, both modes): after auth, deep
  nesting (arrays, objects, inside a field), binary, oversized, invalid UTF-8 and lone
  surrogates, 1e999 / NaN / huge ints, and wrong types in every field of every client frame
  type; before auth, anything but one small `auth` frame (4401); a second `auth` frame.
- Through a real uvicorn process and the `websockets` client (real mode: tests/support/
  real_server.py): the same kinds of frame, asserting on the wire that every socket the server
  ends gets a close frame with the documented code (4401, 4409, 4429; 1007 for invalid UTF-8,
  which the server's protocol layer refuses before the application sees it) and that every
  socket that stays open answers.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.accounts.helpers import session_for
from tests.messaging.helpers import send_body
from tests.servers import open_socket, register
from tests.support.gateway import closed_with, connect, socket_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_channel_locks")]

NESTED_ARRAYS = "[" * 60000 + "]" * 60000
NESTED_OBJECTS = '{"a":' * 30000 + "0" + "}" * 30000
OVERSIZED = json.dumps({"type": "ping", "data": {"pad": "x" * (200 * 1024)}})


def nested_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


# Frames that are not a JSON value the gateway can take, as raw text (or bytes): each must be
# answered with an `error` frame, status 400 or 413, and the socket stays.
UNPARSABLE: dict[str, str | bytes] = {
    "nested_arrays": NESTED_ARRAYS,
    "nested_objects": NESTED_OBJECTS,
    "nested_in_a_field": '{"type": "message.read", "data": {"id": ' + "[" * 5000 + "]" * 5000 + "}}",
    # Near the parser's recursion limit (about 1,000 levels, less the stack already in use):
    # parsed or not, each is refused, and nothing downstream recurses into it.
    **{
        f"nested_{depth}_in_{where}": text
        for depth in (900, 950, 970, 985, 995)
        for where, text in (
            ("data", '{"type": "message.send", "data": ' + "[" * depth + "]" * depth + "}"),
            (
                "a_field",
                '{"type": "message.send", "data": {"attachment_ids": ' + "[" * depth + "]" * depth + "}}",
            ),
            ("typing", '{"type": "typing", "data": {"state": ' + '{"a":' * depth + "0" + "}" * depth + "}}"),
        )
    },
    "binary": b"\x00\xff" * 512,
    "binary_json": b'{"type": "ping"}',
    "oversized": OVERSIZED,
    "not_json": "{'type': 'ping'}",
    "empty": "",
    "lone_high_surrogate_escaped": '{"type": "ping", "data": {"x": "\\ud800"}}',
    "lone_low_surrogate_escaped": '{"type": "typing", "data": {"state": "\\udfff"}}',
    "lone_surrogate_raw": '{"type": "ping", "data": {"x": "\ud800"}}',
    "exponent_overflow": '{"type": "message.read", "data": {"id": 1e999}}',
    "negative_overflow": '{"type": "relay.ack", "data": {"id": -1e999}}',
    "nan": '{"type": "message.read", "data": {"id": NaN}}',
    "infinity": '{"type": "message.read", "data": {"id": Infinity}}',
    "huge_int": '{"type": "relay.ack", "data": {"id": ' + "9" * 5000 + "}}",
    "array": "[]",
    "string": '"ping"',
    "number": "42",
    "null": "null",
    "no_type": '{"data": {}}',
    "type_null": '{"type": null}',
    "type_number": '{"type": 5}',
    "type_list": '{"type": ["ping"]}',
    "type_object": '{"type": {"ping": 1}}',
    "type_unknown": '{"type": "message.delete"}',
    "type_huge": json.dumps({"type": "x" * 100_000}),
}

# Values no field of any client frame accepts (each is refused by UUID, regex, base64, choice and
# list fields alike): such a frame must get an `error` frame naming it.
REFUSED_EVERYWHERE: dict[str, Any] = {
    "object": {},
    "nested_object": {"a": {"b": {"c": {}}}},
    "nested_list": nested_list(200),
    "huge_int": 10**100,  # over 2**128 (no UUID), over 64 characters as a string
    "list_of_nulls": [None, None],
}
# Wrong for most fields, though a field may coerce one (DRF takes 1.5 as the string "1.5", an
# int as a UUID, null where a field is optional): the frame gets an error or its normal answer,
# never a 500 and never a close.
ODD: dict[str, Any] = {
    "null": None,
    "true": True,
    "zero": 0,
    "negative": -1,
    "negative_huge_int": -(10**60),  # 61 characters: a valid `encryption_algorithm` string
    "float": 1.5,
    "empty_string": "",
    "long_string": "z" * 10_000,
    "empty_list": [],
    "list": ["a"],
}

TYPING_DATA = {"to_user_id": str(uuid.uuid4()), "state": "start"}
ID_DATA = {"id": str(uuid.uuid4())}


def client_frames(peer) -> dict[str, dict[str, Any]]:
    """A valid `data` of every client frame type that has fields."""
    return {
        "typing": TYPING_DATA,
        "message.send": send_body(peer),
        "message.read": ID_DATA,
        "relay.ack": ID_DATA,
    }


@pytest.fixture
def roomy(settings):
    """The corpus sends hundreds of frames on one socket: the per-connection and per-user rate
    limits are not what it tests (they have tests of their own)."""
    settings.REALTIME_FRAME_BURST = settings.REALTIME_FRAME_HARD_BURST = 10_000
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "typing": "10000/m", "message_send": "10000/m"}


async def send_raw(socket, sent: str | bytes) -> None:
    """A text or binary frame as the server hands it to the application (an empty one too,
    which WebsocketCommunicator.send_to refuses)."""
    key = "bytes" if isinstance(sent, bytes) else "text"
    await socket.send_input({"type": "websocket.receive", key: sent})


async def answers_until_pong(socket, sent: str | bytes) -> list[dict]:
    """Send `sent` then a ping; the frames the socket answered with before the pong (a socket
    handles its frames in order). A close instead fails the test."""
    await send_raw(socket, sent)
    await socket.send_to(text_data='{"type": "ping"}')
    answers: list[dict[str, Any]] = []
    while True:
        output = await socket.receive_output(timeout=5)
        assert output["type"] == "websocket.send", f"closed on {sent[:80]!r}: {output}"
        frame = json.loads(output["text"])
        if frame["type"] == "pong":
            return answers
        answers.append(frame)


def assert_refused(answers: list[dict], what: str, *, statuses=(400, 403, 404, 413)) -> None:
    errors = [frame["data"] for frame in answers if frame["type"] == "error"]
    assert len(errors) == 1, f"{what}: {str(answers)[:500]}"
    assert errors[0]["status"] in statuses and errors[0]["code"], f"{what}: {str(errors[0])[:500]}"


# --- after auth, through the ASGI application -------------------------------------------------


async def test_every_unparsable_frame_gets_an_error_frame_and_the_socket_stays(user, roomy):
    socket = await socket_for(user)
    for name, sent in UNPARSABLE.items():
        answers = await answers_until_pong(socket, sent)
        assert_refused(answers, name)
    await socket.disconnect()


@pytest.mark.parametrize("frame_type", ["typing", "message.send", "message.read", "relay.ack"])
async def test_wrong_types_in_every_field_of_every_client_frame(user, other_user, roomy, frame_type):
    valid = client_frames(other_user)[frame_type]
    socket = await socket_for(user)
    for field in valid:
        for name, value in REFUSED_EVERYWHERE.items():
            frame = {"type": frame_type, "data": {**valid, field: value}}
            answers = await answers_until_pong(socket, json.dumps(frame))
            assert_refused(answers, f"{frame_type}.{field}={name}")
            assert answers[0]["data"]["frame"] == frame_type
        for name, value in ODD.items():
            frame = {"type": frame_type, "data": {**valid, field: value}}
            answers = await answers_until_pong(socket, json.dumps(frame))
            statuses = [a["data"]["status"] for a in answers if a["type"] == "error"]
            assert all(400 <= status < 500 for status in statuses), f"{frame_type}.{field}={name}: {statuses}"
    # `data` itself of a wrong type, or missing.
    for data in (None, [], "x", 5, True, nested_list(300)):
        answers = await answers_until_pong(socket, json.dumps({"type": frame_type, "data": data}))
        assert_refused(answers, f"{frame_type} data={data!r:.40}")
    answers = await answers_until_pong(socket, json.dumps({"type": frame_type}))
    assert_refused(answers, f"{frame_type} without data")
    await socket.disconnect()


async def test_a_second_auth_frame_is_an_error_frame(user, roomy):
    socket = await socket_for(user)
    session = await sync_to_async(session_for)(user)
    answers = await answers_until_pong(
        socket, json.dumps({"type": "auth", "data": {"token": session["access"]}})
    )
    assert [a["data"]["code"] for a in answers] == ["already_authenticated"]
    await socket.disconnect()


# --- before auth ------------------------------------------------------------------------------------

PRE_AUTH: dict[str, str | bytes] = {
    **{name: sent for name, sent in UNPARSABLE.items() if name != "oversized"},
    "ping": '{"type": "ping"}',
    "typing": json.dumps({"type": "typing", "data": TYPING_DATA}),
    "auth_without_token": '{"type": "auth", "data": {}}',
    "auth_token_wrong_type": '{"type": "auth", "data": {"token": ["a"]}}',
    "auth_token_huge": json.dumps({"type": "auth", "data": {"token": "a" * 100_000}}),
    "auth_nested": '{"type": "auth", "data": {"token": ' + "[" * 3000 + "]" * 3000 + "}}",
    "oversized_auth": json.dumps({"type": "auth", "data": {"token": "x" * (200 * 1024)}}),
}


@pytest.mark.parametrize("name", list(PRE_AUTH))
async def test_anything_but_a_good_auth_frame_before_auth_closes_with_4401(name):
    socket = await connect()
    await send_raw(socket, PRE_AUTH[name])
    assert await closed_with(socket) == 4401


async def test_two_auth_frames_before_the_first_is_answered(user, other_user):
    """Only one `auth` is taken: the second, sent before the `hello`, is an error frame and the
    socket stays the first user's."""
    first = await sync_to_async(session_for)(user)
    second = await sync_to_async(session_for)(other_user)
    socket = await connect()
    await socket.send_json_to({"type": "auth", "data": {"token": first["access"]}})
    await socket.send_json_to({"type": "auth", "data": {"token": second["access"]}})
    assert (await socket.receive_json_from(timeout=3))["data"]["user_id"] == str(user.pk)
    assert (await socket.receive_json_from(timeout=3))["data"]["code"] == "already_authenticated"
    await socket.disconnect()


# --- on the wire: a real uvicorn process ---------------------------------------------------------


class Tally:
    """Every socket the server ended, and how: a close frame (its code) or none."""

    def __init__(self) -> None:
        self.close_codes: list[int] = []
        self.dropped: list[str] = []

    async def ended(self, connection, what: str, *, timeout: float = 5.0) -> int | None:
        """Wait for the server to end `connection`; the close code it sent (None: dropped)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await connection.recv()
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                self.dropped.append(what)
                return None
            self.close_codes.append(closed.rcvd.code)
            return closed.rcvd.code
        except TimeoutError:
            raise AssertionError(f"{what}: the server neither answered nor closed") from None


def on_the_wire(corpus: dict[str, str | bytes]) -> dict[str, str | bytes]:
    """The corpus a real client can send: a raw lone surrogate cannot be encoded into a text
    frame (invalid UTF-8 on the wire has a case of its own)."""
    return {name: sent for name, sent in corpus.items() if not name.endswith("_raw")}


@pytest.mark.integration
async def test_on_the_wire_every_socket_ends_with_a_close_frame(start_uvicorn):
    server = start_uvicorn(
        REALTIME_MAX_SOCKETS_PER_USER="3",
        # The unparsable corpus fits in the bursts; the flood below does not, however slowly
        # a loaded machine serves it (the buckets barely refill).
        REALTIME_FRAME_RATE_PER_SECOND="1",
        REALTIME_FRAME_BURST="200",
        REALTIME_FRAME_HARD_RATE_PER_SECOND="2",
        REALTIME_FRAME_HARD_BURST="250",
    )
    ann = await register(server, "ann")
    tally = Tally()

    # Before auth: each hostile first frame on a fresh socket -> 4401 with a close frame.
    for name, sent in on_the_wire(PRE_AUTH).items():
        connection = await ws_connect(server.ws_url, proxy=None, open_timeout=5)
        await connection.send(sent)
        assert await tally.ended(connection, f"pre-auth {name}") == 4401, name
    # Invalid UTF-8 in a text frame: uvicorn's protocol layer refuses it (1007), with a close frame.
    connection = await ws_connect(server.ws_url, proxy=None, open_timeout=5)
    await connection.send(b'{"type": "auth", "data": {"token": "\xff\xfe"}}', text=True)
    assert await tally.ended(connection, "invalid UTF-8") == 1007

    # After auth: every unparsable frame answered, the socket still up; then closed cleanly.
    socket = await open_socket(server, ann)
    for name, sent in on_the_wire(UNPARSABLE).items():
        await socket.connection.send(sent)
        frame = await socket.next_frame("error")
        assert frame["data"]["status"] in (400, 413), (name, frame)
    await socket.connection.send('{"type": "ping"}')
    await socket.next_frame("pong")

    # Past the per-user cap (3): 4409.
    others = [await open_socket(server, ann) for _ in range(2)]
    extra = await ws_connect(server.ws_url, proxy=None, open_timeout=5)
    await extra.send(json.dumps({"type": "auth", "data": {"token": ann.access}}))
    assert await tally.ended(extra, "over the cap") == 4409

    # A flood past the hard rate limit: 4429.
    for _ in range(400):
        try:
            await socket.connection.send('{"type": "ping"}')
        except ConnectionClosed:
            break
    assert await tally.ended(socket.connection, "flood", timeout=30) == 4429

    for other in others:
        await other.close()
        assert other.connection.protocol.close_rcvd is not None  # the server answered the close
    assert tally.dropped == [], f"sockets dropped without a close frame: {tally.dropped}\n{server.log()}"
    assert "Exception in ASGI application" not in server.log()
