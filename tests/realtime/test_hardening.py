"""Issue 14, hostile clients, one rule per test through the real ASGI application: a frame the
gateway cannot parse is an `error` frame; whatever a handler raises, the socket's clean-up runs
(presence goes offline); a socket that has not authenticated may send one small `auth` frame and
nothing else; a user holds at most REALTIME_MAX_SOCKETS_PER_USER sockets; a browser Origin must
match the socket's own origin, port included.

The presence store is the run's own (Redis with REDIS_URL, else memory); nothing is mocked but
one test's deliberately broken parser, standing in for a bug.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from core.events import realtime_user_group_name
from messenger.asgi import application
from presence.store import get_store
from realtime import consumers
from tests.accounts.helpers import session_for
from tests.realtime.test_gateway import NOTHING_WITHIN, closed_with, connect, next_frame_of, socket_for
from tests.realtime.test_presence import befriend, presence_frame, presence_of
from tests.sockets import Socket, end_open_sockets

pytestmark = pytest.mark.django_db(transaction=True)

NESTED_ARRAYS = "[" * 60000 + "]" * 60000  # the frame: 120,000 bytes, under the 128 KiB cap
NESTED_OBJECTS = '{"a":' * 20000 + "1" + "}" * 20000


@pytest.fixture(autouse=True)
def _clean_presence():
    get_store().forget_everything()
    yield
    get_store().forget_everything()


async def error_of(communicator) -> dict:
    frame = await communicator.receive_json_from(timeout=3)
    assert frame["type"] == "error", frame
    return frame["data"]


async def still_answers(communicator) -> None:
    await communicator.send_json_to({"type": "ping"})
    assert (await next_frame_of(communicator, "pong"))["type"] == "pong"


async def friend_watching(user, make_user):
    """A contact of `user` with an open socket, connected before `user` (so it hears the
    online/offline transitions of `user`)."""
    friend = await sync_to_async(make_user)()
    await sync_to_async(befriend)(user, friend)
    return friend, await socket_for(friend)


# --- frames that cannot be handled -------------------------------------------------------------


@pytest.mark.parametrize("text", [NESTED_ARRAYS, NESTED_OBJECTS], ids=["arrays", "objects"])
async def test_deeply_nested_json_gets_an_error_frame_and_the_socket_stays(user, text):
    """Before: json.loads raised RecursionError (not a ValueError) out of the consumer: the
    socket dropped without a close frame and disconnect() never ran."""
    ann = await socket_for(user)
    await ann.send_to(text_data=text)
    error = await error_of(ann)
    assert (error["code"], error["status"]) == ("invalid_json", 400), error
    assert "nested" in error["detail"]
    await still_answers(ann)
    await ann.disconnect()


async def test_a_bug_in_the_frame_path_answers_500_and_presence_still_ends(user, make_user, monkeypatch):
    """An unexpected exception while handling a client frame: an `error` frame 500
    `server_error`, the socket goes on, and closing it still takes the user offline."""
    friend, friend_socket = await friend_watching(user, make_user)
    ann = await socket_for(user)
    assert await friend_socket.receive_json_from(timeout=3) == presence_frame(user, online=True)

    def broken(text: str):
        raise RuntimeError("a bug")

    monkeypatch.setattr(consumers, "parse_frame", broken)
    await ann.send_to(text_data='{"type": "ping"}')
    error = await error_of(ann)
    assert (error["code"], error["status"]) == ("server_error", 500), error
    monkeypatch.undo()
    await still_answers(ann)

    await ann.disconnect()
    offline = await friend_socket.receive_json_from(timeout=3)
    assert offline["data"]["online"] is False and offline["data"]["user_id"] == str(user.pk)
    assert (await presence_of(friend, user))[0]["online"] is False
    await friend_socket.disconnect()


async def test_a_handler_failing_on_a_layer_event_closes_1011_and_cleans_up(user, make_user):
    """A malformed event from the channel layer makes event_forward raise (KeyError). Before,
    the exception left the consumer without running disconnect(): the heartbeat kept the user
    online forever. Now the socket is closed with 1011 and the clean-up runs."""
    friend, friend_socket = await friend_watching(user, make_user)
    ann = await socket_for(user)
    assert await friend_socket.receive_json_from(timeout=3) == presence_frame(user, online=True)

    await get_channel_layer().group_send(
        realtime_user_group_name(user.pk), {"type": "event.forward", "event": {"no": "type"}}
    )
    assert await closed_with(ann) == consumers.CLOSE_SERVER_ERROR
    await ann.disconnect()  # the client's side of the close handshake
    offline = await friend_socket.receive_json_from(timeout=3)
    assert offline["data"]["online"] is False
    assert (await presence_of(friend, user))[0]["online"] is False
    await friend_socket.disconnect()


async def test_a_socket_the_server_closes_has_ended_and_its_user_is_offline_when_the_test_goes_on(
    user, make_user, settings
):
    """The test side of a server close (tests/sockets.py): the close handshake is completed as
    a server completes it, so the consumer's clean-up (presence, the last_seen write) is done
    within the test. Before, it ran during the teardown's flush ("database table is locked")."""
    settings.REALTIME_FRAME_RATE_PER_SECOND = settings.REALTIME_FRAME_HARD_RATE_PER_SECOND = 0.001
    settings.REALTIME_FRAME_BURST, settings.REALTIME_FRAME_HARD_BURST = 1, 2
    friend, friend_socket = await friend_watching(user, make_user)
    ann = await socket_for(user)
    assert await friend_socket.receive_json_from(timeout=3) == presence_frame(user, online=True)
    await still_answers(ann)
    await ann.send_json_to({"type": "ping"})
    assert (await error_of(ann))["code"] == "rate_limited"
    await ann.send_json_to({"type": "ping"})
    assert await closed_with(ann) == consumers.CLOSE_RATE_LIMITED
    assert not ann.running
    offline = await friend_socket.receive_json_from(timeout=3)
    assert offline["data"]["online"] is False and offline["data"]["last_seen"] is not None
    assert (await presence_of(friend, user))[0]["online"] is False
    await friend_socket.disconnect()


async def test_sockets_a_test_leaves_open_are_ended_with_their_clean_up(user, make_user):
    """What the _end_sockets fixture does after every async test (a test that failed half-way,
    or forgot a socket): each application gets its disconnect and is awaited to the end, so no
    clean-up outlives the test."""
    friend, friend_socket = await friend_watching(user, make_user)
    ann = await socket_for(user)
    assert await friend_socket.receive_json_from(timeout=3) == presence_frame(user, online=True)
    await end_open_sockets()
    assert not ann.running and not friend_socket.running
    ann_now = (await presence_of(friend, user))[0]
    assert ann_now["online"] is False and ann_now["last_seen"] is not None


async def test_oversized_frames_spend_the_hard_rate_limit_by_size(user, settings):
    """An oversized frame is read whole by the server before the gateway refuses it, so it
    costs the hard bucket one token per started REALTIME_MAX_FRAME_BYTES: a client pushing big
    frames is closed with 4429 after about a burst's worth of bytes (before: after HARD_BURST
    frames of whatever size the server accepts, 16 MiB each under uvicorn)."""
    settings.REALTIME_MAX_FRAME_BYTES = 1024
    settings.REALTIME_FRAME_HARD_RATE_PER_SECOND = 0.001  # no refill within the test
    settings.REALTIME_FRAME_HARD_BURST = 10
    ann = await socket_for(user)
    await ann.send_to(text_data="x" * 3000)  # 3 tokens: refused, the socket stays
    error = await error_of(ann)
    assert (error["code"], error["status"]) == ("frame_too_large", 413)
    await still_answers(ann)  # 1 token
    await ann.send_to(text_data="x" * 7000)  # 7 tokens: more than the 6 left
    assert await closed_with(ann) == consumers.CLOSE_RATE_LIMITED == 4429


# --- before authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    ["binary", "not_json", "nested", "array", "ping", "oversized_auth", "lone_surrogate"],
)
async def test_anything_but_one_small_auth_frame_first_closes_with_4401(user, kind):
    """Before: a binary, non-JSON or non-object first frame was answered with an error frame,
    unthrottled (458 MB accepted in 8 s); now nothing is served before authentication."""
    session = await sync_to_async(session_for)(user)
    communicator = await connect()
    if kind == "binary":
        await communicator.send_to(bytes_data=b"\x00" * 1024)
    elif kind == "oversized_auth":
        padding = "x" * 9000  # over REALTIME_PREAUTH_MAX_FRAME_BYTES (8 KiB), under the 128 KiB
        await communicator.send_json_to(
            {"type": "auth", "data": {"token": session["access"], "pad": padding}}
        )
    else:
        text = {
            "not_json": "not json",
            "nested": NESTED_ARRAYS,
            "array": "[]",
            "ping": '{"type": "ping"}',
            "lone_surrogate": '{"type": "auth", "data": {"token": "\\ud800"}}',
        }[kind]
        await communicator.send_to(text_data=text)
    # A good auth frame right behind it is not served either: the socket is closing.
    await communicator.send_json_to({"type": "auth", "data": {"token": session["access"]}})
    assert await closed_with(communicator) == 4401
    assert await communicator.receive_nothing(timeout=NOTHING_WITHIN)


async def test_a_second_auth_frame_is_refused_and_the_first_identity_stays(user, other_user):
    ann_session = await sync_to_async(session_for)(user)
    bob_session = await sync_to_async(session_for)(other_user)
    communicator = await connect()
    await communicator.send_json_to({"type": "auth", "data": {"token": ann_session["access"]}})
    await communicator.send_json_to({"type": "auth", "data": {"token": bob_session["access"]}})
    assert (await communicator.receive_json_from(timeout=3))["data"]["user_id"] == str(user.pk)
    error = await error_of(communicator)
    assert (error["code"], error["status"]) == ("already_authenticated", 400)
    await communicator.disconnect()


async def test_a_pre_auth_socket_is_closed_after_the_auth_timeout(settings):
    settings.REALTIME_AUTH_TIMEOUT_SECONDS = 0.2
    communicator = await connect()
    assert await closed_with(communicator) == 4401


# --- sockets per user ----------------------------------------------------------------------------


async def test_a_user_holds_at_most_the_configured_number_of_sockets(user, make_user, settings):
    """Before: one user could hold 300+ sockets. Past the cap the next one is closed with 4409
    (counted where presence counts connections: Redis across processes, else memory); closing
    one makes room again, and the refused one changed nothing for the user's contacts."""
    settings.REALTIME_MAX_SOCKETS_PER_USER = 3
    _, friend_socket = await friend_watching(user, make_user)
    sockets = [await socket_for(user) for _ in range(3)]
    assert await friend_socket.receive_json_from(timeout=3) == presence_frame(user, online=True)

    session = await sync_to_async(session_for)(user)
    refused = await connect()
    await refused.send_json_to({"type": "auth", "data": {"token": session["access"]}})
    assert await closed_with(refused) == consumers.CLOSE_TOO_MANY_SOCKETS == 4409
    await refused.disconnect()
    assert await friend_socket.receive_nothing(timeout=NOTHING_WITHIN)  # still online, no event
    for socket in sockets:
        await still_answers(socket)

    await sockets.pop().disconnect()
    sockets.append(await socket_for(user))  # room again
    for socket in sockets:
        await socket.disconnect()
    offline = await friend_socket.receive_json_from(timeout=3)
    assert offline["data"]["online"] is False
    await friend_socket.disconnect()


async def test_the_cap_counts_each_user_apart(user, other_user, settings):
    settings.REALTIME_MAX_SOCKETS_PER_USER = 1
    ann, bob = await socket_for(user), await socket_for(other_user)
    await still_answers(ann)
    await still_answers(bob)
    await ann.disconnect()
    await bob.disconnect()


# --- origin ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host, origin, allowed",
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000", True),
        ("localhost", "http://localhost", True),
        ("localhost:80", "http://localhost", True),
        ("127.0.0.1:8000", "http://127.0.0.1:9000", False),  # another port of the same host
        ("127.0.0.1:8000", "http://127.0.0.1", False),
        ("localhost", "http://localhost:8080", False),
        ("127.0.0.1:8000", "https://127.0.0.1:8000", False),  # another scheme (ws is http)
        ("127.0.0.1:8000", "http://localhost:8000", False),  # another host, both allowed
        ("evil.example:8000", "http://evil.example:8000", False),  # not in ALLOWED_HOSTS
        ("127.0.0.1:8000", "http://127.0.0.1:notaport", False),
        ("127.0.0.1:8000", "null", False),
    ],
)
async def test_a_browser_origin_must_be_the_sockets_own_scheme_host_and_port(host, origin, allowed):
    """Before: with no WEBSOCKET_ALLOWED_ORIGINS, only the origin's host name was checked, so a
    page on another port of the same host could open sockets."""
    headers = [(b"host", host.encode()), (b"origin", origin.encode())]
    communicator = Socket(application, "/ws/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected is allowed
    await communicator.disconnect()


async def test_configured_origins_are_the_only_ones_allowed(settings):
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://chat.example.com"]
    for origin, allowed in (
        ("https://chat.example.com", True),
        ("https://chat.example.com:8443", False),
        ("http://chat.example.com", False),
    ):
        headers = [(b"host", b"127.0.0.1:8000"), (b"origin", origin.encode())]
        communicator = Socket(application, "/ws/", headers=headers)
        connected, _ = await communicator.connect()
        assert connected is allowed, origin
        await communicator.disconnect()


def test_the_store_refuses_only_a_new_connection_past_the_cap(make_user):
    """The cap is checked and applied in one store operation (one Lua script in Redis): a new
    connection past it is not stored, while refreshing one already counted always works, and an
    expired one (a crashed process's) no longer counts."""
    store, ann = get_store(), make_user()

    def touch(connection_id: str, *, ttl: float = 60):
        return store.touch(
            user_id=ann.pk,
            connection_id=connection_id,
            ttl_seconds=ttl,
            last_seen_interval_seconds=60,
            max_connections=2,
        )

    assert not touch("a").refused and not touch("b").refused
    assert touch("c").refused
    assert store.online_among(user_ids=[ann.pk]) == {ann.pk}
    assert not touch("a").refused  # a heartbeat of a counted connection
    assert store.close(user_id=ann.pk, connection_id="c") is False  # never stored: still online
    assert not touch("b", ttl=0).refused  # b's process died: its entry expired
    assert not touch("c").refused
