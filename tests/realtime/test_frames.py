"""Client frames on /ws/: typing, message.send, message.read, relay.ack, relay delivery on the
socket, and the per-connection rate limit.

Each frame runs the service REST runs, so each test checks what the other side sees live and
what REST shows afterwards; refusals are error frames carrying REST's code and status.
"""

from __future__ import annotations

import base64

import pytest
from asgiref.sync import sync_to_async

from messaging.models import Message
from tests.messaging.helpers import send_body
from tests.realtime.test_gateway import NOTHING_WITHIN, closed_with, next_frame_of, rest, socket_for

pytestmark = pytest.mark.django_db(transaction=True)


async def block(blocker, blocked) -> None:
    """A real block through the contacts API: `blocked` asks, `blocker` blocks."""
    contact = await rest(blocked, "post", "/api/v1/contacts", {"user_id": str(blocker.pk)})
    assert contact.status_code == 201, contact.content
    response = await rest(blocker, "patch", f"/api/v1/contacts/{contact.json()['id']}", {"status": "blocked"})
    assert response.status_code == 200, response.content


async def befriend(a, b) -> None:
    """An accepted contact through the contacts API: `a` asks, `b` asks back (which accepts)."""
    for asker, asked in ((a, b), (b, a)):
        response = await rest(asker, "post", "/api/v1/contacts", {"user_id": str(asked.pk)})
        assert response.status_code in (200, 201), response.content


def typing_to(user, state: str = "start") -> dict:
    return {"type": "typing", "data": {"to_user_id": str(user.pk), "state": state}}


async def error_frame(communicator) -> dict:
    frame = await communicator.receive_json_from(timeout=3)
    assert frame["type"] == "error", frame
    return frame["data"]


async def settled(communicator) -> None:
    """Wait until the socket has handled every frame sent before: a socket handles its frames in
    order, so the `pong` to a `ping` comes after them (frames with no answer have no other mark)."""
    await communicator.send_json_to({"type": "ping"})
    await next_frame_of(communicator, "pong")


async def disconnect_all(*communicators) -> None:
    for communicator in communicators:
        await communicator.disconnect()


# --- typing -----------------------------------------------------------------------------------


async def test_typing_reaches_the_other_user_and_not_the_typists_other_devices(user, other_user, make_user):
    stranger = await sync_to_async(make_user)()
    await befriend(user, other_user)
    # Bob first: Ann's sockets then get no `presence` of his, only what this test is about.
    bob, stranger_socket = await socket_for(other_user), await socket_for(stranger)
    ann, ann_laptop = await socket_for(user), await socket_for(user)

    await ann.send_json_to({"type": "typing", "data": {"to_user_id": str(other_user.pk), "state": "start"}})
    frame = await next_frame_of(bob, "typing")  # after Ann's `presence`
    assert frame == {
        "type": "typing",
        "data": {"user_id": str(user.pk), "state": "start", "to_user_id": str(other_user.pk)},
    }
    await ann.send_json_to({"type": "typing", "data": {"to_user_id": str(other_user.pk), "state": "stop"}})
    assert (await bob.receive_json_from(timeout=3))["data"]["state"] == "stop"
    # Typing has no answer; neither the typist's devices nor anyone else hears it.
    assert await ann.receive_nothing(timeout=NOTHING_WITHIN)
    assert await ann_laptop.receive_nothing(timeout=NOTHING_WITHIN)
    assert await stranger_socket.receive_nothing(timeout=NOTHING_WITHIN)
    await disconnect_all(ann, ann_laptop, bob, stranger_socket)


async def test_typing_to_a_stranger_is_refused_and_heard_by_no_one(user, other_user):
    """Issue 14: typing reached anyone whose id the typist knew (spam). A stranger, or someone
    who only has a pending request from the typist, hears nothing."""
    ann, bob = await socket_for(user), await socket_for(other_user)
    await ann.send_json_to(typing_to(other_user))
    error = await error_frame(ann)
    assert (error["code"], error["status"], error["frame"]) == ("not_a_contact", 403, "typing")
    asked = await rest(user, "post", "/api/v1/contacts", {"user_id": str(other_user.pk)})
    assert asked.status_code == 201, asked.content
    await ann.send_json_to(typing_to(other_user))
    # (after the `contact.request` event of Ann's own request)
    assert (await next_frame_of(ann, "error"))["data"]["code"] == "not_a_contact"  # pending is not enough
    frames = []
    while not await bob.receive_nothing(timeout=NOTHING_WITHIN):
        frames.append((await bob.receive_json_from())["type"])
    assert frames == ["contact.request"]  # the request; no typing
    await disconnect_all(ann, bob)


async def test_typing_reaches_someone_the_typist_shares_a_conversation_with(user, other_user):
    """No contact, but a 1:1 conversation already exists (Bob wrote to Ann): Ann may type to him."""
    sent = await rest(other_user, "post", "/api/v1/messages/send", await sync_to_async(send_body)(user))
    assert sent.status_code == 201, sent.content
    ann, bob = await socket_for(user), await socket_for(other_user)
    await ann.send_json_to(typing_to(other_user))
    frame = await next_frame_of(bob, "typing")
    assert frame["data"] == {"user_id": str(user.pk), "state": "start", "to_user_id": str(other_user.pk)}
    await disconnect_all(ann, bob)


async def test_typing_is_throttled_per_user_across_their_sockets(user, other_user, settings):
    """THROTTLE_TYPING counts one user's typing frames on all their sockets together: opening
    another socket does not reset it."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "typing": "3/m"}
    await befriend(user, other_user)
    bob = await socket_for(other_user)  # first: Ann's sockets get no `presence` of his
    phone, laptop = await socket_for(user), await socket_for(user)
    for socket in (phone, laptop, phone):
        await socket.send_json_to(typing_to(other_user))
        assert (await next_frame_of(bob, "typing"))["data"]["user_id"] == str(user.pk)
    await laptop.send_json_to(typing_to(other_user, "stop"))
    error = await error_frame(laptop)
    assert (error["code"], error["status"], error["frame"]) == ("throttled", 429, "typing"), error
    assert error["retry_after"] >= 1
    assert await bob.receive_nothing(timeout=NOTHING_WITHIN)
    await disconnect_all(phone, laptop, bob)


@pytest.mark.parametrize("who_blocks", ["recipient", "typist"])
async def test_typing_across_a_block_is_refused_and_heard_by_no_one(user, other_user, who_blocks):
    if who_blocks == "recipient":
        await block(other_user, user)
    else:
        await block(user, other_user)
    ann, bob = await socket_for(user), await socket_for(other_user)
    await ann.send_json_to({"type": "typing", "data": {"to_user_id": str(other_user.pk), "state": "start"}})
    error = await error_frame(ann)
    assert (error["code"], error["status"], error["frame"]) == ("blocked", 403, "typing")
    assert await bob.receive_nothing(timeout=NOTHING_WITHIN)
    await disconnect_all(ann, bob)


async def test_typing_in_a_group_reaches_the_other_members_only(user, other_user, make_user):
    outsider = await sync_to_async(make_user)()
    created = await rest(user, "post", "/api/v1/groups", {"name": "Team", "member_ids": [str(other_user.pk)]})
    group_id = created.json()["id"]
    ann, ann_laptop = await socket_for(user), await socket_for(user)
    bob, outsider_socket = await socket_for(other_user), await socket_for(outsider)

    await ann.send_json_to({"type": "typing", "data": {"group_id": group_id, "state": "start"}})
    frame = await bob.receive_json_from(timeout=3)
    assert frame == {
        "type": "typing",
        "data": {"user_id": str(user.pk), "state": "start", "group_id": group_id},
    }
    assert await ann_laptop.receive_nothing(timeout=NOTHING_WITHIN)
    assert await outsider_socket.receive_nothing(timeout=NOTHING_WITHIN)

    # A non-member is told the group does not exist (as REST tells outsiders), and no one hears it.
    await outsider_socket.send_json_to({"type": "typing", "data": {"group_id": group_id, "state": "start"}})
    error = await error_frame(outsider_socket)
    assert (error["code"], error["status"]) == ("group_not_found", 404)
    assert await bob.receive_nothing(timeout=NOTHING_WITHIN)

    # Removed from the group: typing there is refused at once (the socket follows membership).
    removed = await rest(user, "delete", f"/api/v1/groups/{group_id}/members/{other_user.pk}")
    assert removed.status_code == 204
    await next_frame_of(bob, "group.member.removed")
    await bob.send_json_to({"type": "typing", "data": {"group_id": group_id, "state": "start"}})
    assert (await error_frame(bob))["code"] == "group_not_found"
    await next_frame_of(ann, "group.member.removed")
    assert await ann.receive_nothing(timeout=NOTHING_WITHIN)  # the refused typing reached no one
    await disconnect_all(ann, ann_laptop, bob, outsider_socket)


@pytest.mark.parametrize(
    "data, code, status",
    [
        ({"state": "start"}, "invalid", 400),  # no target
        ({"to_user_id": "not-a-uuid", "state": "start"}, "invalid", 400),
        ({"to_user_id": "00000000-0000-0000-0000-000000000001", "state": "dancing"}, "invalid_choice", 400),
        ({"to_user_id": "00000000-0000-0000-0000-000000000001", "state": "start"}, "user_not_found", 404),
        ("start", "invalid", 400),  # data is not an object
    ],
)
async def test_bad_typing_frames_get_an_error_and_the_socket_stays(user, data, code, status):
    ann = await socket_for(user)
    await ann.send_json_to({"type": "typing", "data": data})
    error = await error_frame(ann)
    assert (error["code"], error["status"], error["frame"]) == (code, status, "typing"), error
    await ann.send_json_to({"type": "ping"})
    assert (await ann.receive_json_from(timeout=3))["type"] == "pong"
    await ann.disconnect()


async def test_typing_to_oneself_or_to_both_targets_is_refused(user, other_user):
    ann = await socket_for(user)
    await ann.send_json_to({"type": "typing", "data": {"to_user_id": str(user.pk), "state": "start"}})
    assert (await error_frame(ann))["status"] == 404
    both = {"to_user_id": str(other_user.pk), "group_id": str(other_user.pk), "state": "start"}
    await ann.send_json_to({"type": "typing", "data": both})
    error = await error_frame(ann)
    assert error["status"] == 400 and "non_field_errors" in error["errors"]
    await ann.disconnect()


# --- message.send -----------------------------------------------------------------------------


async def test_message_send_answers_message_sent_and_delivers_like_rest(user, other_user):
    ann, ann_laptop, bob = await socket_for(user), await socket_for(user), await socket_for(other_user)
    body = await sync_to_async(send_body)(other_user)

    await ann.send_json_to({"type": "message.send", "data": body})
    sent = await ann.receive_json_from(timeout=3)
    assert sent["type"] == "message.sent", sent
    stored = sent["data"]
    assert stored["created"] is True
    assert stored["client_message_id"] == body["client_message_id"]
    assert stored["encrypted_content"] == body["encrypted_content"]
    assert stored["sender_id"] == str(user.pk) and stored["recipient_id"] == str(other_user.pk)

    for device in (bob, ann_laptop):
        frame = await next_frame_of(device, "message.new")
        assert frame["data"]["id"] == stored["id"]
    assert await ann.receive_nothing(timeout=NOTHING_WITHIN)  # message.sent, not its own message.new

    conversation = await rest(other_user, "get", f"/api/v1/messages/conversation/{user.pk}")
    assert [message["id"] for message in conversation.json()["results"]] == [stored["id"]]

    # A retry (the answer was lost): the first message again, nothing new for anyone.
    await ann.send_json_to({"type": "message.send", "data": body})
    retry = await ann.receive_json_from(timeout=3)
    assert retry["type"] == "message.sent"
    assert retry["data"]["id"] == stored["id"] and retry["data"]["created"] is False
    assert await bob.receive_nothing(timeout=NOTHING_WITHIN)
    assert await sync_to_async(Message.objects.count)() == 1
    await disconnect_all(ann, ann_laptop, bob)


async def test_message_send_at_the_ciphertext_cap_fits_in_one_frame(user, other_user, settings):
    ann = await socket_for(user)
    content = base64.b64encode(b"\x01" * settings.MESSAGE_MAX_CIPHERTEXT_BYTES).decode()
    body = await sync_to_async(send_body)(other_user, encrypted_content=content)
    await ann.send_json_to({"type": "message.send", "data": body})
    sent = await ann.receive_json_from(timeout=3)
    assert sent["type"] == "message.sent", sent["data"]
    assert sent["data"]["encrypted_content"] == content
    await ann.disconnect()


@pytest.mark.parametrize(
    "overrides, code, status, field",
    [
        ({"encrypted_content": "%%% not base64"}, "invalid", 400, "encrypted_content"),
        ({"encrypted_session_key": ...}, "required", 400, "encrypted_session_key"),
        ({"recipient_id": "00000000-0000-0000-0000-000000000001"}, "recipient_not_found", 404, None),
        ({"crypto_version": "x" * 40}, "max_length", 400, "crypto_version"),
    ],
)
async def test_a_refused_message_send_is_an_error_naming_it_and_stores_nothing(
    user, other_user, overrides, code, status, field
):
    ann, bob = await socket_for(user), await socket_for(other_user)
    body = await sync_to_async(send_body)(other_user, **overrides)
    await ann.send_json_to({"type": "message.send", "data": body})
    error = await error_frame(ann)
    assert (error["code"], error["status"], error["frame"]) == (code, status, "message.send"), error
    assert error["client_message_id"] == body["client_message_id"]
    if field:
        assert field in error["errors"]
    assert await bob.receive_nothing(timeout=NOTHING_WITHIN)
    assert await sync_to_async(Message.objects.count)() == 0
    await disconnect_all(ann, bob)


async def test_message_send_to_someone_who_blocked_you_is_403(user, other_user):
    await block(other_user, user)
    ann, bob = await socket_for(user), await socket_for(other_user)
    await ann.send_json_to({"type": "message.send", "data": await sync_to_async(send_body)(other_user)})
    error = await error_frame(ann)
    assert (error["status"], error["frame"]) == (403, "message.send")
    assert await bob.receive_nothing(timeout=NOTHING_WITHIN)
    assert await sync_to_async(Message.objects.count)() == 0
    await disconnect_all(ann, bob)


# --- message.read -----------------------------------------------------------------------------


async def test_message_read_tells_the_sender_and_the_readers_other_devices(user, other_user, make_user):
    sent = await rest(user, "post", "/api/v1/messages/send", await sync_to_async(send_body)(other_user))
    message_id = sent.json()["id"]
    ann = await socket_for(user)
    bob_phone, bob_laptop = await socket_for(other_user), await socket_for(other_user)

    await bob_phone.send_json_to({"type": "message.read", "data": {"id": message_id}})
    for device in (ann, bob_laptop):
        frame = await next_frame_of(device, "message.read")
        assert frame["data"]["id"] == message_id and frame["data"]["read_at"]
    assert await bob_phone.receive_nothing(timeout=NOTHING_WITHIN)
    conversation = await rest(user, "get", f"/api/v1/messages/conversation/{other_user.pk}")
    [message] = conversation.json()["results"]
    assert message["is_read"] is True and message["read_at"]

    # Idempotent: reading it again announces nothing.
    await bob_phone.send_json_to({"type": "message.read", "data": {"id": message_id}})
    assert await ann.receive_nothing(timeout=NOTHING_WITHIN)
    await disconnect_all(ann, bob_phone, bob_laptop)


async def test_only_the_recipient_may_mark_a_message_read(user, other_user, make_user):
    stranger = await sync_to_async(make_user)()
    sent = await rest(user, "post", "/api/v1/messages/send", await sync_to_async(send_body)(other_user))
    message_id = sent.json()["id"]
    ann, stranger_socket = await socket_for(user), await socket_for(stranger)

    await ann.send_json_to({"type": "message.read", "data": {"id": message_id}})  # the sender
    error = await error_frame(ann)
    assert (error["status"], error["frame"], error["id"]) == (403, "message.read", message_id)
    await stranger_socket.send_json_to({"type": "message.read", "data": {"id": message_id}})
    assert (await error_frame(stranger_socket))["status"] == 404  # not theirs to know about
    await stranger_socket.send_json_to({"type": "message.read", "data": {"id": "nope"}})
    assert (await error_frame(stranger_socket))["status"] == 400
    message = await sync_to_async(Message.objects.get)(pk=message_id)
    assert message.read_at is None
    await disconnect_all(ann, stranger_socket)


# --- relay ------------------------------------------------------------------------------------


async def queue_envelope(sender, recipient, payload: bytes) -> str:
    body = {
        "recipient_id": str(recipient.pk),
        "payload": base64.b64encode(payload).decode(),
        "ttl_seconds": 300,
    }
    response = await rest(sender, "post", "/api/v1/relay/queue", body)
    assert response.status_code == 201, response.content
    return response.json()["id"]


async def pending_ids(user) -> list[str]:
    response = await rest(user, "get", f"/api/v1/relay/pending/{user.pk}")
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


async def test_pending_envelopes_are_pushed_on_connect_oldest_first_and_acked(user, other_user):
    first = await queue_envelope(other_user, user, b"one")
    second = await queue_envelope(other_user, user, b"two")
    ann = await socket_for(user)
    pushed = [await next_frame_of(ann, "relay.envelope") for _ in range(2)]
    assert [frame["data"]["id"] for frame in pushed] == [first, second]
    assert base64.b64decode(pushed[0]["data"]["payload"]) == b"one"
    assert pushed[0]["data"]["sender_id"] == str(other_user.pk)

    await ann.send_json_to({"type": "relay.ack", "data": {"id": first}})
    # The answer: relay.acked, which the user's other devices get too; and no re-push yet.
    assert await ann.receive_json_from(timeout=3) == {"type": "relay.acked", "data": {"id": first}}
    assert await ann.receive_nothing(timeout=NOTHING_WITHIN)
    assert await pending_ids(user) == [second]

    # Acking again (another device did it, or a retry): 404, nothing else changes.
    await ann.send_json_to({"type": "relay.ack", "data": {"id": first}})
    error = await error_frame(ann)
    assert (error["status"], error["frame"], error["id"]) == (404, "relay.ack", first)
    await ann.send_json_to({"type": "relay.ack", "data": {"id": second}})
    await settled(ann)
    assert await pending_ids(user) == []
    await ann.disconnect()


async def test_an_envelope_queued_while_connected_arrives_once(user, other_user):
    ann = await socket_for(user)
    envelope_id = await queue_envelope(other_user, user, b"live")
    frame = await next_frame_of(ann, "relay.envelope")
    assert frame["data"]["id"] == envelope_id
    assert await ann.receive_nothing(timeout=NOTHING_WITHIN)
    await ann.disconnect()


async def test_an_unacked_envelope_is_pushed_again_until_acked(user, other_user, settings):
    settings.REALTIME_RELAY_REPUSH_SECONDS = 0.4
    envelope_id = await queue_envelope(other_user, user, b"again")
    ann = await socket_for(user)
    for _ in range(3):  # the first push and two re-pushes
        assert (await next_frame_of(ann, "relay.envelope"))["data"]["id"] == envelope_id
    await ann.send_json_to({"type": "relay.ack", "data": {"id": envelope_id}})
    assert (await ann.receive_json_from(timeout=3))["type"] == "relay.acked"
    assert await ann.receive_nothing(timeout=1.0)  # acked: pushed no more
    await ann.disconnect()


async def test_at_most_a_window_is_in_flight_and_an_ack_lets_the_next_one_out(user, other_user, settings):
    settings.REALTIME_RELAY_WINDOW = 2
    ids = [await queue_envelope(other_user, user, f"e{n}".encode()) for n in range(3)]
    ann = await socket_for(user)
    pushed = [(await next_frame_of(ann, "relay.envelope"))["data"]["id"] for _ in range(2)]
    assert pushed == ids[:2]
    extra = await queue_envelope(other_user, user, b"live, window full")
    assert await ann.receive_nothing(timeout=NOTHING_WITHIN)

    await ann.send_json_to({"type": "relay.ack", "data": {"id": ids[0]}})
    assert (await next_frame_of(ann, "relay.envelope"))["data"]["id"] == ids[2]
    await ann.send_json_to({"type": "relay.ack", "data": {"id": ids[1]}})
    assert (await next_frame_of(ann, "relay.envelope"))["data"]["id"] == extra
    # Nothing more is pushed. The acks' `relay.acked` (through the channel layer) may still
    # arrive after the envelope the ack let out (from the pump): no order between the two.
    late = []
    while not await ann.receive_nothing(timeout=NOTHING_WITHIN):
        late.append(await ann.receive_json_from())
    assert all(frame["type"] == "relay.acked" and frame["data"]["id"] in ids[:2] for frame in late), late
    await ann.disconnect()


async def test_relay_ack_is_the_recipients_only(user, other_user):
    envelope_id = await queue_envelope(other_user, user, b"for ann")
    bob = await socket_for(other_user)  # the sender
    await bob.send_json_to({"type": "relay.ack", "data": {"id": envelope_id}})
    assert (await error_frame(bob))["status"] == 404
    await bob.send_json_to({"type": "relay.ack", "data": {}})
    error = await error_frame(bob)
    assert error["status"] == 400 and "id" in error["errors"]
    assert await pending_ids(user) == [envelope_id]
    await bob.disconnect()


# --- rate limit -------------------------------------------------------------------------------


async def test_past_the_soft_limit_frames_are_refused_and_past_the_hard_limit_the_socket_closes(
    user, settings
):
    settings.REALTIME_FRAME_RATE_PER_SECOND = 0.001  # no refill within the test
    settings.REALTIME_FRAME_BURST = 3
    settings.REALTIME_FRAME_HARD_RATE_PER_SECOND = 0.001
    settings.REALTIME_FRAME_HARD_BURST = 6
    ann = await socket_for(user)
    for _ in range(3):
        await ann.send_json_to({"type": "ping"})
        assert (await ann.receive_json_from(timeout=3))["type"] == "pong"
    for _ in range(3):
        await ann.send_json_to({"type": "ping"})
        error = await error_frame(ann)
        assert (error["code"], error["status"]) == ("rate_limited", 429)
        assert error["retry_after"] > 0
    await ann.send_json_to({"type": "ping"})
    assert await closed_with(ann) == 4429


async def test_the_rate_limit_is_per_connection(user, settings):
    settings.REALTIME_FRAME_RATE_PER_SECOND = 0.001
    settings.REALTIME_FRAME_BURST = 1
    phone, laptop = await socket_for(user), await socket_for(user)
    await phone.send_json_to({"type": "ping"})
    assert (await phone.receive_json_from(timeout=3))["type"] == "pong"
    await phone.send_json_to({"type": "ping"})
    assert (await error_frame(phone))["code"] == "rate_limited"
    await laptop.send_json_to({"type": "ping"})
    assert (await laptop.receive_json_from(timeout=3))["type"] == "pong"
    await disconnect_all(phone, laptop)


def test_a_token_bucket_refills_at_its_rate():
    from realtime.ratelimit import TokenBucket

    now = [0.0]
    bucket = TokenBucket(2.0, 2.0, lambda: now[0])
    assert bucket.take() and bucket.take() and not bucket.take()
    now[0] = 0.25  # half a token back
    assert not bucket.take()
    assert bucket.seconds_until_a_token() == pytest.approx(0.25)
    now[0] = 0.5
    assert bucket.take() and not bucket.take()
    now[0] = 100.0  # never more than the burst
    assert bucket.take() and bucket.take() and not bucket.take()


async def test_message_send_on_a_socket_shares_the_rest_send_throttle(user, other_user, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "message_send": "2/m"}
    ann = await socket_for(user)
    first = await rest(user, "post", "/api/v1/messages/send", await sync_to_async(send_body)(other_user))
    assert first.status_code == 201
    # This socket is another device of the sender: the REST send's message.new comes first
    # (through the channel layer, so it could otherwise arrive after the frames below).
    assert (await next_frame_of(ann, "message.new"))["data"]["id"] == first.json()["id"]
    await ann.send_json_to({"type": "message.send", "data": await sync_to_async(send_body)(other_user)})
    assert (await next_frame_of(ann, "message.sent"))["data"]["created"] is True
    await ann.send_json_to({"type": "message.send", "data": await sync_to_async(send_body)(other_user)})
    error = await error_frame(ann)
    assert (error["status"], error["frame"]) == (429, "message.send")
    assert error["retry_after"] >= 1
    third = await rest(user, "post", "/api/v1/messages/send", await sync_to_async(send_body)(other_user))
    assert third.status_code == 429
    assert await sync_to_async(Message.objects.count)() == 2
    await ann.disconnect()
