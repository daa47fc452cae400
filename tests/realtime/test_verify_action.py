"""Events against REST, in the spirit of Zulip's `verify_action` (zerver/tests/test_events.py).

For every server-to-client event type, and for every party it concerns: the state a client
builds from a fresh REST fetch plus the frames its sockets received equals a fresh REST fetch
after the action. An event that is missing, duplicated, addressed to the wrong people, or whose
payload differs from what REST shows (another timestamp format, a missing field, something a
client cannot derive) fails here.

The client model (`fresh_state`, `apply_event`) caches what a real client keeps on screen: the
conversation list and each conversation's page, the groups with their detail and messages, the
contacts and the pending relay envelopes. It reads one page of each list (the tests keep lists
short) and keys group members by user id (the order of a member list is the client's to choose).

Sockets are real `WebsocketCommunicator`s (tests/sockets.py) on `messenger.asgi.application`,
authenticated with the `auth` frame; the actions go through REST (or a socket frame), so events travel over the
configured channel layer (Redis in CI, in-memory embedded) after the services commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import RefreshToken

from messenger.asgi import application
from tests.conftest import bearer_client
from tests.groups.conftest import keys_for
from tests.messaging.helpers import b64, send_body
from tests.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)

FRAME_TIMEOUT = 5  # seconds for an expected frame to arrive (a failure, never a measurement)
QUIET = 0.3  # seconds with no further frame after the expected ones: a duplicate shows up here

State = dict[str, Any]
Frame = dict[str, Any]


# --- REST -------------------------------------------------------------------------------------


async def rest(user, method: str, path: str, body: dict | None = None):
    def call():
        return getattr(bearer_client(user), method)(path, body, format="json")

    return await sync_to_async(call)()


async def rest_ok(user, method: str, path: str, body: dict | None = None, *, status: int = 200):
    response = await rest(user, method, path, body)
    assert response.status_code == status, (method, path, response.status_code, response.content)
    return response.json() if response.content else None


async def page(user, path: str) -> list[dict[str, Any]]:
    body = await rest_ok(user, "get", path)
    assert body["next"] is None, f"{path}: the model reads one page, keep the test's lists short"
    return body["results"]


# --- the client model -------------------------------------------------------------------------


async def fresh_state(user) -> State:
    """What a client caches, fetched through REST, as plain dicts."""
    state: State = {
        "conversations": await page(user, "/api/v1/messages/conversations"),
        "messages": {},  # peer id -> the conversation page, newest first
        "groups": await page(user, "/api/v1/groups"),
        "group_details": {},  # group id -> <group>, `members` keyed by user id
        "group_messages": {},  # group id -> messages, newest first
        "contacts": await page(user, "/api/v1/contacts"),
        "relay": await page(user, f"/api/v1/relay/pending/{user.pk}"),
    }
    for conversation in state["conversations"]:
        peer = conversation["user"]["id"]
        state["messages"][peer] = await page(user, f"/api/v1/messages/conversation/{peer}")
    for group in state["groups"]:
        detail = await rest_ok(user, "get", f"/api/v1/groups/{group['id']}")
        detail["members"] = {member["user"]["id"]: member for member in detail["members"]}
        state["group_details"][group["id"]] = detail
        state["group_messages"][group["id"]] = await page(user, f"/api/v1/groups/{group['id']}/messages")
    return state


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """REST's `-created_at, -id` order (contacts, groups)."""
    return sorted(items, key=lambda item: (_when(item["created_at"]), item["id"]), reverse=True)


def _known_user(state: State, user_id: str) -> dict[str, Any]:
    """The `<user>` a client already holds for `user_id` (conversations, contacts, groups)."""
    known = [conversation["user"] for conversation in state["conversations"]]
    known += [contact["user"] for contact in state["contacts"]]
    known += [m["user"] for detail in state["group_details"].values() for m in detail["members"].values()]
    for user in known:
        if user["id"] == user_id:
            return user
    raise AssertionError(f"the client holds no <user> for {user_id}: it would have to fetch it")


def _peer(data: dict[str, Any], me: str) -> str:
    return data["recipient_id"] if data["sender_id"] == me else data["sender_id"]


def _refresh_conversation(state: State, peer: str) -> None:
    """The conversation list entry follows the cached page: its newest message, and how many
    of the peer's messages are unread (not read, not deleted); no message left, no entry."""
    messages = state["messages"].get(peer) or []
    conversations = [c for c in state["conversations"] if c["user"]["id"] != peer]
    if messages:
        unread = sum(
            1 for m in messages if m["sender_id"] == peer and not m["is_read"] and not m["is_deleted"]
        )
        conversations.append(
            {"user": _known_user(state, peer), "last_message": messages[0], "unread_count": unread}
        )
    else:
        state["messages"].pop(peer, None)
    state["conversations"] = sorted(
        conversations, key=lambda c: _when(c["last_message"]["created_at"]), reverse=True
    )


def _cached_message(state: State, data: dict[str, Any], me: str) -> tuple[str, dict[str, Any] | None]:
    peer = _peer(data, me)
    for message in state["messages"].get(peer, []):
        if message["id"] == data["id"]:
            return peer, message
    return peer, None


def _message_new(state: State, data: dict[str, Any], me: str) -> None:
    peer = _peer(data, me)
    messages = state["messages"].setdefault(peer, [])
    if all(message["id"] != data["id"] for message in messages):
        messages.insert(0, data)
    _refresh_conversation(state, peer)


def _message_sent(state: State, data: dict[str, Any], me: str) -> None:
    """The sending socket's answer: the stored <message> plus `created`."""
    _message_new(state, {key: value for key, value in data.items() if key != "created"}, me)


def _message_read(state: State, data: dict[str, Any], me: str) -> None:
    peer, message = _cached_message(state, data, me)
    if message is not None:
        message.update(is_read=True, read_at=data["read_at"])
        _refresh_conversation(state, peer)


def _message_deleted(state: State, data: dict[str, Any], me: str) -> None:
    peer, message = _cached_message(state, data, me)
    if message is None:
        return
    if data["scope"] == "me":
        state["messages"][peer].remove(message)
    else:  # a tombstone: no ciphertext, no keys, no attachments
        message.update(
            encrypted_content=None,
            encrypted_session_key=None,
            sender_encrypted_session_key=None,
            attachments=[],
            is_deleted=True,
        )
    _refresh_conversation(state, peer)


GROUP_LIST_FIELDS = ("id", "name", "description", "creator_id", "created_at", "updated_at", "my_role")


def _refresh_group_list(state: State, group_id: str, me: str) -> None:
    """GET /groups entries follow the cached detail: `my_role` and `member_count` are derived."""
    groups = [group for group in state["groups"] if group["id"] != group_id]
    detail = state["group_details"].get(group_id)
    if detail is not None:
        detail["my_role"] = detail["members"][me]["role"]
        item = {key: detail[key] for key in GROUP_LIST_FIELDS}
        item["member_count"] = len(detail["members"])
        groups.append(item)
    state["groups"] = _newest_first(groups)


def _forget_group(state: State, group_id: str, me: str) -> None:
    state["group_details"].pop(group_id, None)
    state["group_messages"].pop(group_id, None)
    _refresh_group_list(state, group_id, me)


def _group_member_added(state: State, data: dict[str, Any], me: str) -> None:
    group_id = data["group_id"]
    detail = state["group_details"].get(group_id)
    if detail is None:  # this user was added (or the group created): it is new to the client
        assert me in data["user_ids"], data
        detail = {**data["group"], "my_role": None, "members": {}}
        state["group_details"][group_id] = detail
        state["group_messages"][group_id] = []  # history starts at joining
    for member in data["members"]:
        detail["members"][member["user"]["id"]] = member
    _refresh_group_list(state, group_id, me)


def _group_member_removed(state: State, data: dict[str, Any], me: str) -> None:
    group_id = data["group_id"]
    if data["user_id"] == me:
        _forget_group(state, group_id, me)
        return
    detail = state["group_details"].get(group_id)
    if detail is not None:
        detail["members"].pop(data["user_id"], None)
        _refresh_group_list(state, group_id, me)


def _group_updated(state: State, data: dict[str, Any], me: str) -> None:
    detail = state["group_details"].get(data["group_id"])
    if detail is None:
        return
    detail.update(name=data["name"], description=data["description"], updated_at=data["updated_at"])
    for change in data["role_changes"]:
        if change["user_id"] in detail["members"]:
            detail["members"][change["user_id"]]["role"] = change["role"]
    _refresh_group_list(state, data["group_id"], me)


def _group_deleted(state: State, data: dict[str, Any], me: str) -> None:
    _forget_group(state, data["group_id"], me)


def _group_message_new(state: State, data: dict[str, Any], me: str) -> None:
    messages = state["group_messages"].get(data["group_id"])
    if messages is not None and all(message["id"] != data["id"] for message in messages):
        messages.insert(0, data)


def _contact(state: State, data: dict[str, Any], me: str) -> None:
    """`contact.request` and `contact.updated` carry the row as this side sees it; a removed one
    says `status: "deleted"`."""
    contacts = [contact for contact in state["contacts"] if contact["id"] != data["id"]]
    if data["status"] != "deleted":
        contacts.append(data)
    state["contacts"] = _newest_first(contacts)
    # The event's `<user>` is that user as this side may now see them (`last_seen` only between
    # accepted contacts): a client refreshes the copy its conversation list holds.
    for conversation in state["conversations"]:
        if conversation["user"]["id"] == data["user"]["id"]:
            conversation["user"] = data["user"]


def _relay_envelope(state: State, data: dict[str, Any], me: str) -> None:
    if all(envelope["id"] != data["id"] for envelope in state["relay"]):
        state["relay"].append(data)  # pending is oldest first; ids are handled idempotently


def _relay_acked(state: State, data: dict[str, Any], me: str) -> None:
    state["relay"] = [envelope for envelope in state["relay"] if envelope["id"] != data["id"]]


APPLY: dict[str, Callable[[State, dict[str, Any], str], None]] = {
    "message.new": _message_new,
    "message.sent": _message_sent,
    "message.read": _message_read,
    "message.deleted": _message_deleted,
    "group.message.new": _group_message_new,
    "group.updated": _group_updated,
    "group.member.added": _group_member_added,
    "group.member.removed": _group_member_removed,
    "group.deleted": _group_deleted,
    "contact.request": _contact,
    "contact.updated": _contact,
    "relay.envelope": _relay_envelope,
    "relay.acked": _relay_acked,
}


def apply_event(state: State, frame: Frame, *, me: str) -> None:
    """Update `state` as a client of user `me` would on receiving `frame`."""
    APPLY[frame["type"]](state, frame["data"], me)


def differences(built: Any, fetched: Any, path: str = "") -> list[str]:
    """Where the state built from events differs from the fetched one (for failure messages)."""
    if isinstance(built, dict) and isinstance(fetched, dict):
        found = []
        for key in sorted(set(built) | set(fetched), key=str):
            if key not in built or key not in fetched:
                found.append(
                    f"{path}.{key}: {built.get(key, '<missing>')!r} != {fetched.get(key, '<missing>')!r}"
                )
            else:
                found += differences(built[key], fetched[key], f"{path}.{key}")
        return found
    if isinstance(built, list) and isinstance(fetched, list) and len(built) == len(fetched):
        return [
            d
            for i, (a, b) in enumerate(zip(built, fetched, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    return [] if built == fetched else [f"{path}: built {built!r} != fetched {fetched!r}"]


# --- sockets ------------------------------------------------------------------------------------


@dataclass(eq=False)
class Device:
    name: str
    user: Any
    socket: Socket

    @property
    def me(self) -> str:
        return str(self.user.pk)


async def _receive_all_now(device: Device) -> list[Frame]:
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
            settled = await _receive_all_now(device)
            assert {frame["type"] for frame in settled} <= {"relay.envelope", "presence"}, settled
        return batch

    yield open_devices
    for device in opened:
        # A socket whose expected frame never came had its application cancelled by the
        # communicator's receive timeout: the test has failed already, its teardown need not.
        with contextlib.suppress(asyncio.CancelledError):
            await device.socket.disconnect()


async def verify_action(
    action: Callable[[], Awaitable[Any]],
    expected: dict[Device, list[str]],
    *,
    fetched: dict[str, State] | None = None,
) -> tuple[Any, dict[Device, list[Frame]]]:
    """Fresh state for each device's user, run `action`, collect each device's frames (the
    expected count, then a quiet period for anything extra), assert the event types, apply them
    and assert the result equals a fresh fetch. A device expecting events must also see its
    user's state change (so the comparison cannot pass vacuously).

    `fetched`: pass the same dict to consecutive calls with nothing written in between; a
    call's fetch after its action is then the next call's fetch before (the run stays short).
    """
    users = {device.me: device.user for device in expected}
    fetched = {} if fetched is None else fetched
    before = {me: fetched[me] if me in fetched else await fresh_state(user) for me, user in users.items()}

    result = await action()

    received: dict[Device, list[Frame]] = {device: [] for device in expected}
    for device, types in expected.items():
        for _ in types:
            try:
                received[device].append(await device.socket.receive_json_from(timeout=FRAME_TIMEOUT))
            except TimeoutError:
                break  # missing: the assertion below names what did arrive
    await asyncio.sleep(QUIET)
    for device in expected:
        received[device] += await _receive_all_now(device)
    for device, types in expected.items():
        got = [frame["type"] for frame in received[device]]
        assert got == types, (device.name, received[device])

    after = {me: await fresh_state(user) for me, user in users.items()}
    fetched.update(after)
    for device, types in expected.items():
        state = copy.deepcopy(before[device.me])
        for frame in received[device]:
            apply_event(state, frame, me=device.me)
        assert state == after[device.me], (device.name, differences(state, after[device.me]))
        if types:
            assert before[device.me] != after[device.me], f"{device.name}: the action changed nothing"
    return result, received


def each(devices: list[Device], types: list[str]) -> dict[Device, list[str]]:
    """The same expected frame types for several devices (a list each, never shared)."""
    return {device: list(types) for device in devices}


# --- the world each test starts from ----------------------------------------------------------


@dataclass
class World:
    ann: Any
    bob: Any
    cat: Any


def _befriend(a, b) -> None:
    from contacts.services import contact_request

    contact_request(requester_id=a.pk, addressee_id=b.pk)
    contact_request(requester_id=b.pk, addressee_id=a.pk)  # asking back accepts


@pytest.fixture
def world(make_user) -> World:
    """ann, bob and cat, accepted contacts of each other."""
    ann, bob, cat = make_user(username="ann"), make_user(username="bob"), make_user(username="cat")
    _befriend(ann, bob)
    _befriend(ann, cat)
    _befriend(bob, cat)
    return World(ann, bob, cat)


def _send(sender, recipient, **overrides: Any) -> str:
    """A 1:1 message through the service; its id."""
    from messaging.services import message_send

    sent = message_send(
        sender_id=sender.pk,
        recipient_id=recipient.pk,
        encrypted_content=b"ciphertext",
        encrypted_session_key=b"recipient-key",
        sender_encrypted_session_key=b"sender-key",
        crypto_version="1",
        encryption_algorithm="x25519-aes-256-gcm",
        client_message_id=uuid.uuid4(),
        attachment_ids=[],
        **overrides,
    )
    return str(sent.message.pk)


def _group(owner, *members, name: str = "Team") -> str:
    from groups.services import group_create

    return str(group_create(creator_id=owner.pk, name=name, member_ids=[m.pk for m in members]).pk)


def _group_message_body(*members) -> dict[str, Any]:
    return {
        "encrypted_content": b64(b"group ciphertext"),
        "encrypted_session_keys": keys_for(m.pk for m in members),
        "crypto_version": "1",
        "encryption_algorithm": "x25519-aes256gcm",
        "client_message_id": str(uuid.uuid4()),
    }


# --- 1:1 messages -------------------------------------------------------------------------------


async def test_message_new_reaches_the_recipient_and_the_senders_other_devices(world, devices):
    ann, bob, cat = world.ann, world.bob, world.cat
    ann_phone, bob_phone, bob_laptop, cat_phone = await devices(
        ("ann phone", ann), ("bob phone", bob), ("bob laptop", bob), ("cat phone", cat)
    )
    # REST is the sending device here: the sender's socket is their other device.
    fetched: dict[str, State] = {}  # one fetch between two actions
    for sender, recipient in ((ann, bob), (ann, bob), (bob, ann)):  # a new conversation, then on
        await verify_action(
            lambda sender=sender, recipient=recipient: rest_ok(
                sender, "post", "/api/v1/messages/send", send_body(recipient), status=201
            ),
            {
                ann_phone: ["message.new"],
                bob_phone: ["message.new"],
                bob_laptop: ["message.new"],
                cat_phone: [],
            },
            fetched=fetched,
        )


async def test_message_send_on_a_socket_answers_it_and_reaches_the_other_devices(world, devices):
    ann, bob = world.ann, world.bob
    ann_phone, ann_laptop, bob_phone = await devices(
        ("ann phone", ann), ("ann laptop", ann), ("bob phone", bob)
    )

    async def send_on_the_phone() -> None:
        await ann_phone.socket.send_json_to({"type": "message.send", "data": send_body(bob)})

    _, received = await verify_action(
        send_on_the_phone,
        {ann_phone: ["message.sent"], ann_laptop: ["message.new"], bob_phone: ["message.new"]},
    )
    assert received[ann_phone][0]["data"]["created"] is True


async def test_message_read_reaches_the_sender_and_the_readers_devices(world, devices):
    ann, bob, cat = world.ann, world.bob, world.cat
    first = await sync_to_async(_send)(ann, bob)
    await sync_to_async(_send)(bob, ann)  # bob's own message: not his to read
    await sync_to_async(_send)(ann, bob)
    await sync_to_async(_send)(ann, bob)
    ann_phone, bob_phone, bob_laptop, cat_phone = await devices(
        ("ann phone", ann), ("bob phone", bob), ("bob laptop", bob), ("cat phone", cat)
    )
    fetched: dict[str, State] = {}  # one fetch between two actions
    await verify_action(
        lambda: rest_ok(bob, "put", f"/api/v1/messages/{first}/read"),
        {
            ann_phone: ["message.read"],
            bob_phone: ["message.read"],
            bob_laptop: ["message.read"],
            cat_phone: [],
        },
        fetched=fetched,
    )
    # The rest of the conversation at once: one read per message still unread.
    result, _ = await verify_action(
        lambda: rest_ok(bob, "put", f"/api/v1/messages/conversation/{ann.pk}/read", {}),
        {
            ann_phone: ["message.read"] * 2,
            bob_phone: ["message.read"] * 2,
            bob_laptop: ["message.read"] * 2,
            cat_phone: [],
        },
        fetched=fetched,
    )
    assert result["read_count"] == 2


async def test_message_deleted_for_everyone_reaches_both_sides(world, devices):
    ann, bob, cat = world.ann, world.bob, world.cat
    older = await sync_to_async(_send)(ann, bob)
    newest = await sync_to_async(_send)(ann, bob)
    ann_phone, bob_phone, bob_laptop, cat_phone = await devices(
        ("ann phone", ann), ("bob phone", bob), ("bob laptop", bob), ("cat phone", cat)
    )
    fetched: dict[str, State] = {}  # one fetch between two actions
    for message_id in (older, newest):  # a tombstone inside the page, then as the last message
        await verify_action(
            lambda message_id=message_id: rest_ok(
                ann, "delete", f"/api/v1/messages/{message_id}?scope=everyone", status=204
            ),
            {
                ann_phone: ["message.deleted"],
                bob_phone: ["message.deleted"],
                bob_laptop: ["message.deleted"],
                cat_phone: [],
            },
            fetched=fetched,
        )


async def test_message_deleted_for_me_reaches_only_my_devices(world, devices):
    """Hiding the newest message moves the conversation's last message back; hiding the last
    one left drops the conversation from the list. The peer learns nothing."""
    ann, bob = world.ann, world.bob
    oldest = await sync_to_async(_send)(ann, bob)
    middle = await sync_to_async(_send)(bob, ann)
    newest = await sync_to_async(_send)(ann, bob)
    ann_phone, bob_phone, bob_laptop = await devices(
        ("ann phone", ann), ("bob phone", bob), ("bob laptop", bob)
    )
    fetched: dict[str, State] = {}  # one fetch between two actions
    for message_id in (newest, oldest, middle):  # the newest, an older one, the only one left
        await verify_action(
            lambda message_id=message_id: rest_ok(
                bob, "delete", f"/api/v1/messages/{message_id}?scope=me", status=204
            ),
            {ann_phone: [], bob_phone: ["message.deleted"], bob_laptop: ["message.deleted"]},
            fetched=fetched,
        )


# --- groups ---------------------------------------------------------------------------------------


async def test_group_creation_reaches_every_initial_member(world, devices):
    ann, bob, cat = world.ann, world.bob, world.cat
    ann_phone, bob_phone, cat_phone = await devices(
        ("ann phone", ann), ("bob phone", bob), ("cat phone", cat)
    )
    body = {"name": "Hikers", "description": "Sundays", "member_ids": [str(bob.pk)]}
    await verify_action(
        lambda: rest_ok(ann, "post", "/api/v1/groups", body, status=201),
        {ann_phone: ["group.member.added"], bob_phone: ["group.member.added"], cat_phone: []},
    )


async def test_group_member_added_reaches_the_members_and_the_new_one(world, devices):
    ann, bob, cat = world.ann, world.bob, world.cat
    group_id = await sync_to_async(_group)(ann, bob)
    await rest_ok(
        ann, "post", f"/api/v1/groups/{group_id}/messages", _group_message_body(ann, bob), status=201
    )
    ann_phone, bob_phone, cat_phone, cat_laptop = await devices(
        ("ann phone", ann), ("bob phone", bob), ("cat phone", cat), ("cat laptop", cat)
    )
    fetched: dict[str, State] = {}  # one fetch between two actions
    await verify_action(
        lambda: rest_ok(
            ann, "post", f"/api/v1/groups/{group_id}/members", {"user_id": str(cat.pk)}, status=201
        ),
        {
            ann_phone: ["group.member.added"],
            bob_phone: ["group.member.added"],
            cat_phone: ["group.member.added"],
            cat_laptop: ["group.member.added"],
        },
        fetched=fetched,
    )
    # The new member's sockets joined the chat group: its next message reaches them.
    await verify_action(
        lambda: rest_ok(
            bob, "post", f"/api/v1/groups/{group_id}/messages", _group_message_body(ann, bob, cat), status=201
        ),
        {
            ann_phone: ["group.message.new"],
            bob_phone: ["group.message.new"],
            cat_phone: ["group.message.new"],
            cat_laptop: ["group.message.new"],
        },
        fetched=fetched,
    )


async def test_group_message_new_reaches_every_member_and_no_one_else(world, devices):
    ann, bob, cat = world.ann, world.bob, world.cat
    group_id = await sync_to_async(_group)(ann, bob)
    ann_phone, bob_phone, bob_laptop, cat_phone = await devices(
        ("ann phone", ann), ("bob phone", bob), ("bob laptop", bob), ("cat phone", cat)
    )
    await verify_action(
        lambda: rest_ok(
            ann, "post", f"/api/v1/groups/{group_id}/messages", _group_message_body(ann, bob), status=201
        ),
        {
            ann_phone: ["group.message.new"],
            bob_phone: ["group.message.new"],
            bob_laptop: ["group.message.new"],
            cat_phone: [],
        },
    )


async def test_group_updated_reaches_every_member(world, devices):
    ann, bob, cat = world.ann, world.bob, world.cat
    group_id = await sync_to_async(_group)(ann, bob, cat)
    ann_phone, bob_phone, cat_phone = await devices(
        ("ann phone", ann), ("bob phone", bob), ("cat phone", cat)
    )
    actions = [
        lambda: rest_ok(ann, "patch", f"/api/v1/groups/{group_id}", {"name": "Renamed"}),
        lambda: rest_ok(ann, "patch", f"/api/v1/groups/{group_id}", {"description": "new"}),
        lambda: rest_ok(ann, "patch", f"/api/v1/groups/{group_id}/members/{cat.pk}", {"role": "admin"}),
        lambda: rest_ok(
            ann, "post", f"/api/v1/groups/{group_id}/transfer-ownership", {"user_id": str(bob.pk)}
        ),
    ]
    fetched: dict[str, State] = {}  # one fetch between two actions
    for action in actions:
        await verify_action(
            action,
            {ann_phone: ["group.updated"], bob_phone: ["group.updated"], cat_phone: ["group.updated"]},
            fetched=fetched,
        )


async def test_group_member_removed_reaches_the_removed_user_once_and_the_rest(world, devices, make_user):
    ann, bob, cat = world.ann, world.bob, world.cat
    dan = await sync_to_async(make_user)(username="dan")
    await sync_to_async(_befriend)(ann, dan)
    group_id = await sync_to_async(_group)(ann, bob, cat, dan)
    ann_phone, bob_phone, bob_laptop, cat_phone, dan_phone = await devices(
        ("ann phone", ann), ("bob phone", bob), ("bob laptop", bob), ("cat phone", cat), ("dan phone", dan)
    )
    everyone = [ann_phone, bob_phone, bob_laptop, cat_phone, dan_phone]
    # ann removes bob, then cat leaves.
    fetched: dict[str, State] = {}  # one fetch between two actions
    await verify_action(
        lambda: rest_ok(ann, "delete", f"/api/v1/groups/{group_id}/members/{bob.pk}", status=204),
        each(everyone, ["group.member.removed"]),
        fetched=fetched,
    )
    await verify_action(
        lambda: rest_ok(cat, "delete", f"/api/v1/groups/{group_id}/members/{cat.pk}", status=204),
        {**each(everyone, ["group.member.removed"]), bob_phone: [], bob_laptop: []},
        fetched=fetched,
    )
    # Their sockets left the chat group: its next message reaches the others only.
    await verify_action(
        lambda: rest_ok(
            ann, "post", f"/api/v1/groups/{group_id}/messages", _group_message_body(ann, dan), status=201
        ),
        {**each(everyone, []), ann_phone: ["group.message.new"], dan_phone: ["group.message.new"]},
        fetched=fetched,
    )


async def test_group_deleted_reaches_every_member(world, devices):
    ann, bob, cat = world.ann, world.bob, world.cat
    group_id = await sync_to_async(_group)(ann, bob)
    await rest_ok(
        ann, "post", f"/api/v1/groups/{group_id}/messages", _group_message_body(ann, bob), status=201
    )
    ann_phone, bob_phone, cat_phone = await devices(
        ("ann phone", ann), ("bob phone", bob), ("cat phone", cat)
    )
    await verify_action(
        lambda: rest_ok(ann, "delete", f"/api/v1/groups/{group_id}", status=204),
        {ann_phone: ["group.deleted"], bob_phone: ["group.deleted"], cat_phone: []},
    )


# --- contacts -------------------------------------------------------------------------------------


async def test_contact_request_reaches_the_addressee(world, devices, make_user):
    ann, bob = world.ann, world.bob
    dan = await sync_to_async(make_user)(username="dan")
    ann_phone, ann_laptop, bob_phone = await devices(
        ("ann phone", ann), ("ann laptop", ann), ("bob phone", bob)
    )
    await verify_action(
        lambda: rest_ok(dan, "post", "/api/v1/contacts", {"user_id": str(ann.pk)}, status=201),
        {ann_phone: ["contact.request"], ann_laptop: ["contact.request"], bob_phone: []},
    )


async def test_contact_request_reaches_the_requesters_other_devices(world, devices, make_user):
    ann = world.ann
    dan = await sync_to_async(make_user)(username="dan")
    dan_phone, dan_laptop = await devices(("dan phone", dan), ("dan laptop", dan))
    await verify_action(
        lambda: rest_ok(dan, "post", "/api/v1/contacts", {"user_id": str(ann.pk)}, status=201),
        {dan_phone: ["contact.request"], dan_laptop: ["contact.request"]},
    )


async def test_contact_updated_reaches_both_sides(world, devices, make_user):
    ann, bob = world.ann, world.bob
    dan, eve = await sync_to_async(make_user)(username="dan"), await sync_to_async(make_user)(username="eve")
    from_dan = await rest_ok(dan, "post", "/api/v1/contacts", {"user_id": str(ann.pk)}, status=201)
    await rest_ok(eve, "post", "/api/v1/contacts", {"user_id": str(ann.pk)}, status=201)
    await sync_to_async(_send)(ann, bob)  # bob: a contact ann also has a conversation with
    with_bob = next(c for c in await page(ann, "/api/v1/contacts") if c["user"]["id"] == str(bob.pk))
    ann_phone, ann_laptop, bob_phone, dan_phone, eve_phone = await devices(
        ("ann phone", ann), ("ann laptop", ann), ("bob phone", bob), ("dan phone", dan), ("eve phone", eve)
    )
    cases = [
        # (action, the other side's device)
        (
            lambda: rest_ok(ann, "patch", f"/api/v1/contacts/{from_dan['id']}", {"status": "accepted"}),
            dan_phone,
        ),
        (
            lambda: rest_ok(ann, "patch", f"/api/v1/contacts/{from_dan['id']}", {"status": "blocked"}),
            dan_phone,
        ),
        (lambda: rest_ok(ann, "delete", f"/api/v1/contacts/{from_dan['id']}", status=204), dan_phone),
        (
            lambda: rest_ok(ann, "post", "/api/v1/contacts", {"user_id": str(eve.pk)}),
            eve_phone,
        ),  # asking back
        (lambda: rest_ok(bob, "delete", f"/api/v1/contacts/{with_bob['id']}", status=204), bob_phone),
    ]
    fetched: dict[str, State] = {}  # one fetch between two actions
    for action, other_side in cases:
        expected = {
            **each([dan_phone, eve_phone, bob_phone], []),
            **each([ann_phone, ann_laptop, other_side], ["contact.updated"]),
        }
        await verify_action(action, expected, fetched=fetched)


# --- relay ----------------------------------------------------------------------------------------


async def test_relay_envelope_reaches_every_device_of_the_recipient(world, devices):
    ann, bob = world.ann, world.bob
    ann_phone, bob_phone, bob_laptop = await devices(
        ("ann phone", ann), ("bob phone", bob), ("bob laptop", bob)
    )
    everyone = [ann_phone, bob_phone, bob_laptop]
    fetched: dict[str, State] = {}  # one fetch between two actions
    for recipient in (bob, ann):  # another user; the sender's own devices (device-to-device sync)
        body = {"recipient_id": str(recipient.pk), "payload": b64(b"session setup"), "ttl_seconds": 600}
        await verify_action(
            lambda body=body: rest_ok(ann, "post", "/api/v1/relay/queue", body, status=201),
            {device: ["relay.envelope"] if device.user == recipient else [] for device in everyone},
            fetched=fetched,
        )


async def test_relay_ack_on_one_device_reaches_the_others(world, devices):
    ann, bob = world.ann, world.bob
    queued = []
    for payload in (b"one", b"two"):
        body = {"recipient_id": str(bob.pk), "payload": b64(payload), "ttl_seconds": 600}
        queued.append(await rest_ok(ann, "post", "/api/v1/relay/queue", body, status=201))
    ann_phone, bob_phone, bob_laptop = await devices(
        ("ann phone", ann), ("bob phone", bob), ("bob laptop", bob)
    )
    fetched: dict[str, State] = {}
    # Through REST: every device of the recipient hears of it.
    await verify_action(
        lambda: rest_ok(bob, "delete", f"/api/v1/relay/{queued[0]['id']}", status=204),
        {bob_phone: ["relay.acked"], bob_laptop: ["relay.acked"], ann_phone: []},
        fetched=fetched,
    )

    # On a socket: the same, the acking socket too (its answer that the ack took).
    async def ack_on_the_phone() -> None:
        await bob_phone.socket.send_json_to({"type": "relay.ack", "data": {"id": queued[1]["id"]}})

    await verify_action(
        ack_on_the_phone,
        {bob_phone: ["relay.acked"], bob_laptop: ["relay.acked"], ann_phone: []},
        fetched=fetched,
    )


# --- presence -------------------------------------------------------------------------------------


async def presence_state(user, contacts: list[Any]) -> dict[str, Any]:
    """What a client holds of its contacts' presence: GET /presence, keyed by user id, and the
    `last_seen` its cached `<user>` of each contact shows (GET /contacts)."""
    ids = ",".join(str(contact.pk) for contact in contacts)
    listed = await rest_ok(user, "get", f"/api/v1/presence?user_ids={ids}")
    rows = await page(user, "/api/v1/contacts")
    return {
        "presence": {item["user_id"]: item for item in listed["results"]},
        "last_seen": {row["user"]["id"]: row["user"]["last_seen"] for row in rows},
    }


def apply_presence(state: dict[str, Any], frame: Frame) -> None:
    data = frame["data"]
    state["presence"][data["user_id"]] = data
    if not data["online"]:
        state["last_seen"][data["user_id"]] = data["last_seen"]  # the value now stored


async def test_presence_events_keep_a_clients_presence_equal_to_a_fresh_fetch(world, devices):
    """bob comes online (his first device), then offline (his last): ann's devices and cat's
    rebuild what GET /presence and their contacts' last_seen say; bob's second device says
    nothing; while bob is online his `last_seen` is not compared (it is his connect time, written
    by the throttled write, and a client shows "online" instead)."""
    ann, bob, cat = world.ann, world.bob, world.cat
    ann_phone, ann_laptop, cat_phone = await devices(("ann phone", ann), ("ann laptop", ann), ("cat", cat))
    watchers = {ann_phone: [bob, cat], ann_laptop: [bob, cat], cat_phone: [ann, bob]}
    states = {device: await presence_state(device.user, contacts) for device, contacts in watchers.items()}
    assert all(state["presence"][str(bob.pk)]["online"] is False for state in states.values())

    async def step(action, expect_frames: int, *, bob_online: bool) -> None:
        await action()
        for device in watchers:
            frames = [
                await device.socket.receive_json_from(timeout=FRAME_TIMEOUT) for _ in range(expect_frames)
            ]
            await asyncio.sleep(QUIET)
            frames += await _receive_all_now(device)
            assert [frame["type"] for frame in frames] == ["presence"] * expect_frames, (device.name, frames)
            for frame in frames:
                apply_presence(states[device], frame)
            fresh, built = await presence_state(device.user, watchers[device]), copy.deepcopy(states[device])
            if bob_online:
                for state in (fresh, built):
                    del state["last_seen"][str(bob.pk)]
            assert built == fresh, device.name
        assert (states[ann_phone]["presence"][str(bob.pk)]["online"]) is bob_online

    opened: list[Device] = []

    async def bob_connects() -> None:
        opened.extend(await devices(("bob phone", bob)))

    async def bob_connects_again() -> None:
        opened.extend(await devices(("bob laptop", bob)))

    async def bob_closes(device: Device):
        async def close() -> None:
            await device.socket.disconnect()

        return close

    await step(bob_connects, 1, bob_online=True)
    await step(bob_connects_again, 0, bob_online=True)  # not a transition: no event
    await step(await bob_closes(opened[0]), 0, bob_online=True)  # one device left
    await step(await bob_closes(opened[1]), 1, bob_online=False)
    assert states[ann_phone]["last_seen"][str(bob.pk)] is not None
