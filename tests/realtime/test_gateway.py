"""The /ws/ gateway through the real ASGI application: authentication, revocation, the
per-user and per-chat-group delivery of events, and bad frames.

Events travel over the configured channel layer (Redis in CI, in-memory embedded), published by
the apps' own services after their REST calls commit.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from messenger.asgi import application
from tests.accounts.helpers import bearer, session_for
from tests.conftest import bearer_client
from tests.groups.conftest import keys_for, message_body
from tests.messaging.helpers import send_body
from tests.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)

NOTHING_WITHIN = 0.3  # seconds to wait when asserting that no frame arrives


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
    while True:
        frame = await communicator.receive_json_from(timeout=3)
        if frame["type"] == frame_type:
            return frame


async def rest(user, method: str, path: str, body: dict | None = None):
    def call():
        return getattr(bearer_client(user), method)(path, body, format="json")

    return await sync_to_async(call)()


# --- authentication ---------------------------------------------------------------------------


async def test_a_ticket_opens_one_socket_once(user):
    session = await sync_to_async(session_for)(user)
    response = await sync_to_async(bearer(session["access"]).post)("/api/v1/auth/ws-ticket")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"ticket", "expires_in"} and body["expires_in"] == 30
    ticket = body["ticket"]
    assert session["access"] not in ticket

    first = await connect(f"/ws/?ticket={ticket}")
    hello = await first.receive_json_from(timeout=3)
    assert hello["type"] == "hello"
    assert hello["data"]["user_id"] == str(user.pk)
    assert hello["data"]["server_time"].endswith("Z")

    reused = await connect(f"/ws/?ticket={ticket}")
    assert await closed_with(reused) == 4401
    await first.send_json_to({"type": "ping"})
    assert (await first.receive_json_from(timeout=3))["type"] == "pong"
    await first.disconnect()


async def test_unknown_empty_and_expired_tickets_close_with_4401(user, settings):
    for path in ("/ws/?ticket=not-a-ticket", "/ws/?ticket=", f"/ws/?ticket={'x' * 1000}"):
        assert await closed_with(await connect(path)) == 4401, path
    settings.REALTIME_TICKET_TTL_SECONDS = 1
    ticket = (await rest(user, "post", "/api/v1/auth/ws-ticket")).json()["ticket"]
    await asyncio.sleep(1.5)
    assert await closed_with(await connect(f"/ws/?ticket={ticket}")) == 4401


async def test_the_ticket_endpoint_needs_a_token(api_client):
    response = await sync_to_async(api_client.post)("/api/v1/auth/ws-ticket")
    assert response.status_code == 401
    assert response.json()["code"] in {"not_authenticated", "token_not_valid"}


async def test_an_auth_frame_with_a_good_token_says_hello(user):
    session = await sync_to_async(session_for)(user)
    communicator, hello = await authenticated(session["access"])
    assert hello["data"]["user_id"] == str(user.pk)
    await communicator.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "auth", "data": {"token": "not.a.jwt"}},
        {"type": "auth", "data": {"token": 42}},
        {"type": "auth", "data": "token"},
        {"type": "auth"},
        {"type": "ping"},  # anything before auth
    ],
)
async def test_a_bad_first_frame_closes_with_4401(user, frame):
    communicator = await connect()
    await communicator.send_json_to(frame)
    assert await closed_with(communicator) == 4401


async def test_a_refresh_token_is_not_an_access_token(user):
    session = await sync_to_async(session_for)(user)
    communicator = await connect()
    await communicator.send_json_to({"type": "auth", "data": {"token": session["refresh"]}})
    assert await closed_with(communicator) == 4401


async def test_no_auth_within_the_timeout_closes_with_4401(settings):
    settings.REALTIME_AUTH_TIMEOUT_SECONDS = 0.2
    communicator = await connect()
    assert await closed_with(communicator) == 4401


async def test_a_banned_user_cannot_open_a_socket(user):
    from accounts.services import user_ban

    session = await sync_to_async(session_for)(user)
    ticket = (await sync_to_async(bearer(session["access"]).post)("/api/v1/auth/ws-ticket")).json()["ticket"]
    await sync_to_async(user_ban)(user_id=user.pk, reason="spam")
    assert await closed_with(await connect(f"/ws/?ticket={ticket}")) == 4401
    communicator = await connect()
    await communicator.send_json_to({"type": "auth", "data": {"token": session["access"]}})
    assert await closed_with(communicator) == 4401


# --- revocation -------------------------------------------------------------------------------


async def test_logout_closes_that_sessions_sockets_and_refuses_its_tickets(user):
    phone = await sync_to_async(session_for)(user)
    laptop = await sync_to_async(session_for)(user)
    phone_socket, _ = await authenticated(phone["access"])
    laptop_socket, _ = await authenticated(laptop["access"])
    ticket = (await sync_to_async(bearer(phone["access"]).post)("/api/v1/auth/ws-ticket")).json()["ticket"]

    response = await sync_to_async(bearer(phone["access"]).post)(
        "/api/v1/auth/logout", {"refresh": phone["refresh"]}, format="json"
    )
    assert response.status_code == 204

    assert await closed_with(phone_socket) == 4401
    assert await closed_with(await connect(f"/ws/?ticket={ticket}")) == 4401
    # The other session's socket is untouched.
    await laptop_socket.send_json_to({"type": "ping"})
    assert (await laptop_socket.receive_json_from(timeout=3))["type"] == "pong"
    await laptop_socket.disconnect()


async def test_a_ban_closes_every_socket_of_the_user(user, other_user):
    from accounts.services import user_ban

    first, second, bystander = await socket_for(user), await socket_for(user), await socket_for(other_user)
    await sync_to_async(user_ban)(user_id=user.pk, reason="spam")
    assert await closed_with(first) == 4401
    assert await closed_with(second) == 4401
    await bystander.send_json_to({"type": "ping"})
    assert (await bystander.receive_json_from(timeout=3))["type"] == "pong"
    await bystander.disconnect()


# --- delivery ---------------------------------------------------------------------------------


async def test_a_message_reaches_every_device_of_the_recipient_and_the_senders_others(
    user, other_user, make_user
):
    outsider = await sync_to_async(make_user)()
    recipient_phone, recipient_laptop = await socket_for(other_user), await socket_for(other_user)
    sender_other_device = await socket_for(user)
    outsider_socket = await socket_for(outsider)

    response = await rest(user, "post", "/api/v1/messages/send", await sync_to_async(send_body)(other_user))
    assert response.status_code == 201, response.content
    stored = response.json()

    for communicator in (recipient_phone, recipient_laptop, sender_other_device):
        frame = await next_frame_of(communicator, "message.new")
        assert frame["data"]["id"] == stored["id"]
        assert frame["data"]["encrypted_content"] == stored["encrypted_content"]
    assert await outsider_socket.receive_nothing(timeout=NOTHING_WITHIN)
    for communicator in (recipient_phone, recipient_laptop, sender_other_device, outsider_socket):
        await communicator.disconnect()


async def test_a_socket_open_past_the_layers_group_expiry_still_gets_its_events(user, other_user, settings):
    """The layer drops a channel from a group `group_expiry` after it joined (a day by default):
    the socket joins again every REALTIME_GROUP_REJOIN_SECONDS, so one open longer is not muted."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 2}}
    }
    settings.REALTIME_PRESENCE_HEARTBEAT_SECONDS = 0.2
    settings.REALTIME_GROUP_REJOIN_SECONDS = 0.5
    recipient = await socket_for(other_user)
    await asyncio.sleep(3)  # past the expiry of the first join

    response = await rest(user, "post", "/api/v1/messages/send", await sync_to_async(send_body)(other_user))
    assert response.status_code == 201, response.content
    frame = await next_frame_of(recipient, "message.new")
    assert frame["data"]["id"] == response.json()["id"]
    await recipient.disconnect()


async def test_chat_group_membership_is_followed_live(user, other_user, make_user):
    """Added: the socket joins the chat group and gets its messages with its own key only.
    Removed: one member.removed frame, then nothing more from that group."""
    outsider = await sync_to_async(make_user)()
    bob = await socket_for(other_user)
    outsider_socket = await socket_for(outsider)

    created = await rest(user, "post", "/api/v1/groups", {"name": "Team", "member_ids": [str(other_user.pk)]})
    assert created.status_code == 201, created.content
    group_id = created.json()["id"]
    added = await next_frame_of(bob, "group.member.added")
    assert added["data"]["group_id"] == group_id

    from groups.models import ChatGroup

    group = await sync_to_async(ChatGroup.objects.get)(pk=group_id)
    sent = await rest(
        user, "post", f"/api/v1/groups/{group_id}/messages", await sync_to_async(message_body)(group)
    )
    assert sent.status_code == 201, sent.content
    frame = await next_frame_of(bob, "group.message.new")
    assert frame["data"]["id"] == sent.json()["id"]
    assert frame["data"]["encrypted_session_key"] == keys_for([other_user.pk])[str(other_user.pk)]
    assert "encrypted_session_keys" not in frame["data"]

    removed = await rest(user, "delete", f"/api/v1/groups/{group_id}/members/{other_user.pk}")
    assert removed.status_code == 204
    frame = await next_frame_of(bob, "group.member.removed")
    assert frame["data"]["user_id"] == str(other_user.pk)
    assert await bob.receive_nothing(timeout=NOTHING_WITHIN)  # the user-addressed copy was dropped

    again = await rest(
        user, "post", f"/api/v1/groups/{group_id}/messages", await sync_to_async(message_body)(group)
    )
    assert again.status_code == 201, again.content
    assert await bob.receive_nothing(timeout=NOTHING_WITHIN)
    assert await outsider_socket.receive_nothing(timeout=NOTHING_WITHIN)
    await bob.disconnect()
    await outsider_socket.disconnect()


async def test_a_member_connecting_later_joins_their_groups(user, other_user):
    from groups.services import group_create

    group = await sync_to_async(group_create)(creator_id=user.pk, name="Team", member_ids=[other_user.pk])
    bob = await socket_for(other_user)
    updated = await rest(user, "patch", f"/api/v1/groups/{group.pk}", {"name": "Renamed"})
    assert updated.status_code == 200, updated.content
    frame = await next_frame_of(bob, "group.updated")
    assert frame["data"]["group_id"] == str(group.pk) or frame["data"].get("id") == str(group.pk)
    await bob.disconnect()


async def test_events_are_forwarded_verbatim_and_in_order(user):
    from channels.layers import get_channel_layer

    from core.events import build_message, realtime_user_group_name

    communicator = await socket_for(user)
    layer = get_channel_layer()
    for number in range(50):
        await layer.group_send(
            realtime_user_group_name(user.pk), build_message("contact.updated", {"n": number})
        )
    for number in range(50):
        frame = await communicator.receive_json_from(timeout=3)
        assert frame == {"type": "contact.updated", "data": {"n": number}}
    await communicator.disconnect()


# --- bad frames -------------------------------------------------------------------------------


async def test_bad_frames_get_an_error_and_the_socket_stays(user, settings):
    settings.REALTIME_MAX_FRAME_BYTES = 1024
    communicator = await socket_for(user)
    cases = [
        ("text", "not json", "invalid_json", 400),
        ("text", "[1, 2]", "invalid_frame", 400),
        ("text", '{"data": {}}', "invalid_frame", 400),
        ("text", '{"type": "no.such.frame"}', "unknown_type", 400),
        ("text", '{"type": "auth", "data": {"token": "x"}}', "already_authenticated", 400),
        ("text", '{"type": "ping", "pad": "' + "x" * 2000 + '"}', "frame_too_large", 413),
        ("bytes", b"\x00\x01", "invalid_frame", 400),
    ]
    for kind, payload, code, status in cases:
        if kind == "text":
            await communicator.send_to(text_data=payload)
        else:
            await communicator.send_to(bytes_data=payload)
        frame = await communicator.receive_json_from(timeout=3)
        assert frame["type"] == "error", (payload, frame)
        assert frame["data"]["code"] == code and frame["data"]["status"] == status, (payload, frame)
        assert isinstance(frame["data"]["detail"], str) and frame["data"]["detail"]
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=3))["type"] == "pong"
    await communicator.disconnect()
