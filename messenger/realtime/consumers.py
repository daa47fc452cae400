"""The `/ws/` gateway: authenticate, join the user's channel-layer groups, forward events.

Frames are JSON `{"type": ..., "data": {...}}` (API.md, WebSocket). A socket authenticates with
`/ws/?ticket=` (a single-use ticket from POST /auth/ws-ticket) or with a first `auth` frame
carrying an access JWT within REALTIME_AUTH_TIMEOUT_SECONDS; otherwise it is closed with 4401.
Once authenticated it is in `user.<id>` (every device of the user) and `chatgroup.<gid>` for each
chat group the user is in, kept right as memberships change (groups/events.py is the contract).
Forwarding an event costs no database query: the layer message already holds the frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from groups import events as group_events
from groups.selectors import group_ids_for_user
from messenger.core.events import realtime_chat_group_name, realtime_user_group_name
from messenger.realtime import presence
from messenger.realtime.auth import SocketIdentity, identity_from_access_token, identity_from_ticket

# Close codes (README, "WebSocket"): 4401 unauthenticated or access revoked.
CLOSE_UNAUTHENTICATED = 4401


class GatewayConsumer(AsyncWebsocketConsumer):
    identity: SocketIdentity | None = None

    async def connect(self) -> None:
        self.identity = None
        self.chat_groups: set[str] = set()
        self._auth_timer: asyncio.Task | None = None
        self._heartbeat: asyncio.Task | None = None
        await self.accept()
        ticket = self._query_ticket()
        if ticket is not None:
            identity = await sync_to_async(identity_from_ticket)(ticket)
            if identity is None:
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
            await self._start_session(identity)
            return
        self._auth_timer = asyncio.ensure_future(self._close_unless_authenticated())

    def _query_ticket(self) -> str | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"), keep_blank_values=True)
        values = query.get("ticket")
        return values[0] if values else None

    async def _close_unless_authenticated(self) -> None:
        await asyncio.sleep(settings.REALTIME_AUTH_TIMEOUT_SECONDS)
        if self.identity is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _start_session(self, identity: SocketIdentity) -> None:
        self.identity = identity
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        await self.channel_layer.group_add(realtime_user_group_name(identity.user_id), self.channel_name)
        group_ids = await sync_to_async(group_ids_for_user)(user_id=identity.user_id)
        for group_id in group_ids:
            await self._join_chat_group(str(group_id))
        await self.send_frame("hello", {"user_id": str(identity.user_id), "server_time": _now()})
        await presence.presence_connection_opened(user_id=identity.user_id, connection_id=self.channel_name)
        self._heartbeat = asyncio.ensure_future(self._refresh_presence())

    async def _refresh_presence(self) -> None:
        assert self.identity is not None
        while True:
            await asyncio.sleep(presence.heartbeat_interval_seconds())
            await presence.presence_connection_refreshed(
                user_id=self.identity.user_id, connection_id=self.channel_name
            )

    async def _join_chat_group(self, group_id: str) -> None:
        name = realtime_chat_group_name(group_id)
        self.chat_groups.add(name)
        await self.channel_layer.group_add(name, self.channel_name)

    async def _leave_chat_group(self, group_id: str) -> None:
        name = realtime_chat_group_name(group_id)
        self.chat_groups.discard(name)
        await self.channel_layer.group_discard(name, self.channel_name)

    async def disconnect(self, code: int) -> None:
        for task in (self._auth_timer, self._heartbeat):
            if task is not None:
                task.cancel()
        if self.identity is None:
            return
        await self.channel_layer.group_discard(
            realtime_user_group_name(self.identity.user_id), self.channel_name
        )
        for name in list(self.chat_groups):
            await self.channel_layer.group_discard(name, self.channel_name)
        with contextlib.suppress(Exception):  # presence must never keep a socket from closing
            await presence.presence_connection_closed(
                user_id=self.identity.user_id, connection_id=self.channel_name
            )

    # --- client frames ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send_error("invalid_frame", "Frames are JSON text, not binary.")
            return
        if len(text_data.encode("utf-8", "surrogatepass")) > settings.REALTIME_MAX_FRAME_BYTES:
            await self.send_error("frame_too_large", "The frame is larger than allowed.", status=413)
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid_json", "Frames must be JSON.")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("invalid_frame", 'A frame is an object: {"type": ..., "data": {...}}.')
            return
        frame_type = frame["type"]
        data = frame.get("data", {})
        if self.identity is None:
            await self._receive_unauthenticated(frame_type, data)
            return
        if frame_type == "ping":
            await self.send_frame("pong", {"server_time": _now()})
        elif frame_type == "auth":
            await self.send_error("already_authenticated", "This socket is already authenticated.")
        else:
            await self.send_error("unknown_type", f"Unknown frame type {_shown(frame_type)}.")

    async def _receive_unauthenticated(self, frame_type: str, data: Any) -> None:
        if frame_type != "auth":
            # Nothing is served before authentication; a client that skips it is misbehaving.
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        token = data.get("token") if isinstance(data, dict) else None
        identity = await sync_to_async(identity_from_access_token)(token)
        if identity is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self._start_session(identity)

    # --- channel-layer messages --------------------------------------------------------------

    async def event_forward(self, message: dict[str, Any]) -> None:
        if self.identity is None or message.get("exclude_channel") == self.channel_name:
            return
        event = message["event"]
        event_type, data = event["type"], event["data"]
        me = str(self.identity.user_id)
        if event_type == group_events.GROUP_MESSAGE_NEW:
            keys = data.get("encrypted_session_keys") or {}
            if me not in keys:
                return  # a socket whose user was just removed: not theirs to read
            data = {k: v for k, v in data.items() if k != "encrypted_session_keys"}
            data["encrypted_session_key"] = keys[me]
        elif event_type == group_events.GROUP_MEMBER_ADDED and me in data.get("user_ids", []):
            name = realtime_chat_group_name(data["group_id"])
            if name in self.chat_groups:
                return  # the user-addressed copy after the chat group's: a duplicate
            await self._join_chat_group(data["group_id"])
        elif event_type == group_events.GROUP_MEMBER_REMOVED and data.get("user_id") == me:
            name = realtime_chat_group_name(data["group_id"])
            if name not in self.chat_groups:
                return  # already had the chat group's copy (or connected after the removal)
            await self._leave_chat_group(data["group_id"])
        elif event_type == group_events.GROUP_DELETED:
            await self.send_frame(event_type, data)
            await self._leave_chat_group(data["group_id"])
            return
        await self.send_frame(event_type, data)

    async def access_revoked(self, message: dict[str, Any]) -> None:
        """A logout of this socket's session, or a ban or deletion of its user (any process)."""
        if self.identity is None:
            return
        session_id = message.get("session_id")
        if session_id is None or session_id == self.identity.session_id:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    # --- sending -------------------------------------------------------------------------------

    async def send_frame(self, frame_type: str, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"type": frame_type, "data": data}))

    async def send_error(self, code: str, detail: str, *, status: int = 400) -> None:
        await self.send_frame("error", {"code": code, "detail": detail, "status": status})


def _now() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


def _shown(value: str) -> str:
    return repr(value[:40])
