"""The `/ws/` gateway: authenticate, join the user's channel-layer groups, forward events.

Frames are JSON `{"type": ..., "data": {...}}` (docs/API.md, WebSocket). A socket authenticates with
`/ws/?ticket=` (a single-use ticket from POST /auth/ws-ticket) or with a first `auth` frame
carrying an access JWT within REALTIME_AUTH_TIMEOUT_SECONDS; otherwise it is closed with 4401.
Once authenticated it is in `user.<id>` (every device of the user) and `chatgroup.<gid>` for each
chat group the user is in, kept right as memberships change (groups/events.py is the contract).
Forwarding an event costs no database query: the layer message already holds the frame.

Client frames (`typing`, `message.send`, `message.read`, `relay.ack`) run the same services as
REST (realtime/frames.py), under a per-connection rate limit (ratelimit.py). Pending
relay envelopes are pushed on connect, live as they are queued, and again every
REALTIME_RELAY_REPUSH_SECONDS until acked, at most REALTIME_RELAY_WINDOW in flight.

Hostile clients (issue 14): before authenticating a socket may send one small `auth` frame and
nothing else (anything else closes it with 4401); a user holds at most
REALTIME_MAX_SOCKETS_PER_USER sockets (4409 past it); every frame that cannot be handled is
answered with an `error` frame, and whatever a handler raises, the socket's clean-up (presence,
heartbeat, relay pump, layer groups) runs: a crash must never leave a ghost online.

Logs: every line of a socket carries its connection id (one per socket), its user id once
authenticated, and, while a client frame is handled, that frame's id (core/logging.py);
each client frame gets one line with its type, never its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from core import metrics
from core.channel_layer import group_add_many, group_discard_many
from core.events import realtime_chat_group_name, realtime_user_group_name
from core.layer_fanout import PER_USER_KEY
from core.logging import connection_id_var, frame_id_var, user_id_var
from groups import events as group_events
from groups.selectors import group_ids_for_user
from presence import services as presence_services
from realtime import frames
from realtime.auth import SocketIdentity, identity_from_access_token, identity_from_ticket
from realtime.heartbeat import process_heartbeat
from realtime.ratelimit import FrameRateLimit, Verdict
from relay.events import RELAY_ACKED, RELAY_ENVELOPE, envelope_event_data
from relay.selectors import envelopes_pending

logger = logging.getLogger(__name__)

# Close codes (README, "WebSocket"): 4401 unauthenticated or access revoked; 4409 the user already
# holds REALTIME_MAX_SOCKETS_PER_USER sockets; 4429 a client that kept sending past the rate
# limit's error frames; 1011 the server failed on an event it had to deliver (the client
# reconnects and catches up with /sync rather than silently miss it).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_MANY_SOCKETS = 4409
CLOSE_RATE_LIMITED = 4429
CLOSE_SERVER_ERROR = 1011


# The channel-layer messages the gateway handles, by type: none of their handlers touches the
# database (what a client frame needs runs in database_sync_to_async, which keeps connections).
_LAYER_HANDLERS = {"event.forward": "event_forward", "access.revoked": "access_revoked"}


class BadFrame(ValueError):
    """A text frame that is not a JSON value the gateway can take (the reason is the detail)."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf: no field takes it, and it breaks dumps
        raise BadFrame("Numbers must be finite.")
    return value


def _no_constant(name: str) -> Any:
    raise BadFrame(f"{name} is not JSON.")


def parse_frame(text: str) -> Any:
    """The frame's JSON value, or BadFrame: not JSON, nested deeper than the parser's recursion
    allows (RecursionError, which is not a ValueError), NaN/Infinity, non-finite numbers, ints
    beyond Python's digit limit, or lone surrogates (which no database column can store)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadFrame("Frames must be valid UTF-8.") from None
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except BadFrame:
        raise
    except RecursionError:
        raise BadFrame("The frame is nested too deeply.") from None
    except ValueError:
        raise BadFrame("Frames must be JSON.") from None
    if "\\u" in text:  # an escaped lone surrogate survives json.loads as a str that cannot encode
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadFrame("Frames must be valid UTF-8.") from None
    return value


class GatewayConsumer(AsyncWebsocketConsumer):
    identity: SocketIdentity | None = None

    async def connect(self) -> None:
        # Set in the consumer's task: every later handler of this socket runs in it.
        connection_id_var.set(uuid.uuid4().hex)
        self.identity = None
        self.chat_groups: set[str] = set()
        self._auth_timer: asyncio.TimerHandle | None = None
        self._in_heartbeat = False
        self._relay_pump: asyncio.Task | None = None
        self._relay_wakeup = asyncio.Event()
        self._relay_read_due = True  # the pump reads the pending queue on its next round
        self._relay_window_full = False
        # envelope id -> when this socket last pushed it (monotonic): what is in flight
        self._relay_pushed_at: dict[str, float] = {}
        self._rate_limit = FrameRateLimit()
        self._closing = False
        self._counted_in_presence = False
        self._cleaned_up = False
        await self.accept()
        self._counted_open = True
        metrics.SOCKETS_OPEN.inc()
        # From the accept on, whatever the ticket path takes, the timer bounds a pre-auth socket
        # (a timer, not a task: nothing to schedule for the common socket that authenticates).
        self._auth_timer = asyncio.get_running_loop().call_later(
            settings.REALTIME_AUTH_TIMEOUT_SECONDS,
            lambda: asyncio.ensure_future(self._close_unless_authenticated()),
        )
        ticket = self._query_ticket()
        if ticket is not None:
            identity = await sync_to_async(identity_from_ticket)(ticket)
            if identity is None:
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
            await self._start_session(identity)

    def _query_ticket(self) -> str | None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"), keep_blank_values=True)
        values = query.get("ticket")
        return values[0] if values else None

    async def _close_unless_authenticated(self) -> None:
        if self.identity is None and not self._closing:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _start_session(self, identity: SocketIdentity) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        # Counted first: past the per-user cap the socket is refused before it joins anything.
        admitted = await presence_services.presence_connection_opened(
            user_id=identity.user_id, connection_id=self.channel_name
        )
        if not admitted:
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        self._counted_in_presence = True
        self.identity = identity
        user_id_var.set(str(identity.user_id))
        logger.info("socket authenticated")
        # The user's group first: whatever changes after it (a membership, a queued envelope)
        # arrives live, and the reads below see whatever came before.
        await self.channel_layer.group_add(realtime_user_group_name(identity.user_id), self.channel_name)
        group_ids, pending, relay_error = await database_sync_to_async(_session_reads)(identity.user_id)
        self.chat_groups.update(realtime_chat_group_name(group_id) for group_id in group_ids)
        await group_add_many(self.channel_layer, self.chat_groups, self.channel_name)
        await self.send_frame("hello", {"user_id": str(identity.user_id), "server_time": _now()})
        process_heartbeat().add(self)
        self._in_heartbeat = True
        if relay_error is None:
            await self._push_relay(pending)
            self._relay_read_due = False
        self._relay_pump = asyncio.ensure_future(self._pump_relay())

    @property
    def heartbeat_user_id(self) -> uuid.UUID:
        assert self.identity is not None
        return self.identity.user_id

    async def rejoin_groups(self) -> None:
        """Called by the process heartbeat every REALTIME_GROUP_REJOIN_SECONDS."""
        assert self.identity is not None
        names = [realtime_user_group_name(self.identity.user_id), *self.chat_groups]
        await group_add_many(self.channel_layer, names, self.channel_name)

    async def _join_chat_group(self, group_id: str) -> None:
        name = realtime_chat_group_name(group_id)
        self.chat_groups.add(name)
        await self.channel_layer.group_add(name, self.channel_name)

    async def _leave_chat_group(self, group_id: str) -> None:
        name = realtime_chat_group_name(group_id)
        self.chat_groups.discard(name)
        await self.channel_layer.group_discard(name, self.channel_name)

    # --- relay delivery ------------------------------------------------------------------------

    async def _pump_relay(self) -> None:
        """Reads the pending queue (on connect, once an ack frees room in a full window, when the
        re-push of what is in flight is due) and pushes what is due. With nothing in flight it
        sleeps until woken: an idle socket costs no read (live envelopes come through the layer).
        """
        assert self.identity is not None
        failed = False
        while True:
            self._relay_wakeup.clear()  # before the read: an ack during it still wakes the next
            if self._relay_read_due:
                self._relay_read_due = False
                try:
                    await self._push_pending_relay()
                    failed = False
                except Exception:  # the relay store down: the socket stays, the next round retries
                    logger.warning("Relay envelopes could not be read for a socket", exc_info=True)
                    failed = True
            in_flight = bool(self._relay_pushed_at) or self._relay_window_full or failed
            try:
                await asyncio.wait_for(
                    self._relay_wakeup.wait(),
                    timeout=settings.REALTIME_RELAY_REPUSH_SECONDS if in_flight else None,
                )
            except TimeoutError:
                self._relay_read_due = True  # the re-push is due

    def _wake_relay_pump(self, *, read: bool) -> None:
        """`read`: room in the window, read the queue now; otherwise the pump only starts timing
        the re-push of what was just pushed live."""
        if read:
            self._relay_read_due = True
        self._relay_wakeup.set()

    async def _push_pending_relay(self) -> None:
        assert self.identity is not None
        envelopes = await database_sync_to_async(envelopes_pending)(
            recipient_id=self.identity.user_id, limit=settings.REALTIME_RELAY_WINDOW
        )
        await self._push_relay(envelopes)

    async def _push_relay(self, envelopes: list[Any]) -> None:
        """Given the pending queue's head (up to a window), pushes each envelope not in flight or
        whose re-push is due."""
        self._relay_window_full = len(envelopes) >= settings.REALTIME_RELAY_WINDOW
        pending_ids = {str(envelope.id) for envelope in envelopes}
        # Acked (here or on another device) or expired: no longer in flight.
        for envelope_id in set(self._relay_pushed_at) - pending_ids:
            del self._relay_pushed_at[envelope_id]
        now = time.monotonic()
        for envelope in envelopes:
            pushed_at = self._relay_pushed_at.get(str(envelope.id))
            if pushed_at is None or now - pushed_at >= settings.REALTIME_RELAY_REPUSH_SECONDS:
                await self.send_frame(RELAY_ENVELOPE, envelope_event_data(envelope))
                self._relay_pushed_at[str(envelope.id)] = now

    async def _forward_relay_envelope(self, data: dict[str, Any]) -> None:
        """A live `relay.envelope`: pushed now if the window has room, else it waits its turn in
        the pending queue (the pump sends it once earlier envelopes are acked)."""
        envelope_id = str(data.get("id"))
        if envelope_id in self._relay_pushed_at:
            return
        # A full window at the last read: older envelopes wait in the queue, and the pump sends
        # them first once an ack makes room (this one after them), whenever this event arrives.
        if self._relay_window_full or len(self._relay_pushed_at) >= settings.REALTIME_RELAY_WINDOW:
            self._relay_window_full = True
            return
        idle = not self._relay_pushed_at
        self._relay_pushed_at[envelope_id] = time.monotonic()
        await self.send_frame(RELAY_ENVELOPE, data)
        if idle:
            self._wake_relay_pump(read=False)  # its re-push must be timed

    # --- the socket's life -----------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Whatever ends the socket (a disconnect, an exception no handler caught, a cancelled
        task at shutdown), its clean-up runs: otherwise the heartbeat task would keep the user
        online forever and the consumer alive in memory."""
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            logger.exception("The WebSocket gateway failed outside a handler")
            with contextlib.suppress(Exception):  # the transport may be gone already
                await self.close(code=CLOSE_SERVER_ERROR)
        finally:
            await self._clean_up()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """One message (a client frame, a layer event, the connect): an exception in its handler
        is logged; a client frame then gets a 500 `server_error` frame and the socket goes on;
        anything else closes the socket with 1011 (an event it should have had is lost, so the
        client reconnects and syncs). Either way the clean-up still runs on disconnect."""
        # A client frame's lines carry its own id; a layer event's carry none.
        frame_id = frame_id_var.set(
            uuid.uuid4().hex[:16] if message.get("type") == "websocket.receive" else None
        )
        try:
            handler = _LAYER_HANDLERS.get(message.get("type"))  # type: ignore[arg-type]
            if handler is not None:
                # channels' dispatch first runs `close_old_connections` through sync_to_async for
                # every message: a thread hop per socket per event (for a group message to a
                # thousand sockets, a thousand hops one after another on the one sync thread, most
                # of the delivery's time). These handlers use no database connection.
                await getattr(self, handler)(message)
            else:
                await super().dispatch(message)
        except StopConsumer:
            raise
        except Exception:
            logger.exception("The WebSocket gateway failed on a %r message", message.get("type"))
            if message.get("type") == "websocket.receive" and self.identity is not None:
                await self.send_error("server_error", "A server error occurred.", status=500)
            elif not self._closing:
                await self.close(code=CLOSE_SERVER_ERROR)
        finally:
            frame_id_var.reset(frame_id)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self._closing = True  # frames already queued behind the close are not handled
        metrics.SOCKETS_CLOSED_BY_SERVER.labels(str(code)).inc()
        await super().close(code=code, reason=reason)

    async def disconnect(self, code: int) -> None:
        await self._clean_up()

    async def _clean_up(self) -> None:
        """Idempotent: cancels the socket's tasks, leaves its layer groups, uncounts presence."""
        if getattr(self, "_cleaned_up", True):  # already done, or connect() never ran
            return
        self._cleaned_up = True
        if getattr(self, "_counted_open", False):
            self._counted_open = False
            metrics.SOCKETS_OPEN.dec()
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if self._in_heartbeat:
            self._in_heartbeat = False
            process_heartbeat().discard(self)
        if self._relay_pump is not None:
            self._relay_pump.cancel()
        if self.identity is not None:
            with contextlib.suppress(Exception):  # a layer down must not keep presence counted
                await group_discard_many(
                    self.channel_layer,
                    [realtime_user_group_name(self.identity.user_id), *self.chat_groups],
                    self.channel_name,
                )
        if self._counted_in_presence and self.identity is not None:
            # presence_connection_closed logs its own failures: it never keeps a socket open.
            await presence_services.presence_connection_closed(
                user_id=self.identity.user_id, connection_id=self.channel_name
            )

    # --- client frames ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self._closing:
            return
        if self.identity is None:
            await self._receive_unauthenticated(text_data)
            return
        # len(): characters, a lower bound of the UTF-8 size, and free.
        verdict = self._rate_limit.check(size=len(text_data if text_data is not None else bytes_data or b""))
        if verdict is Verdict.CLOSE:
            await self.close(code=CLOSE_RATE_LIMITED)
            return
        if verdict is Verdict.REFUSED:
            await self.send_frame(
                "error",
                {
                    "code": "rate_limited",
                    "detail": "Too many frames; slow down.",
                    "status": 429,
                    "retry_after": self._rate_limit.retry_after_seconds(),
                },
            )
            return
        if text_data is None:
            await self.send_error("invalid_frame", "Frames are JSON text, not binary.")
            return
        if len(text_data.encode("utf-8", "surrogatepass")) > settings.REALTIME_MAX_FRAME_BYTES:
            await self.send_error("frame_too_large", "The frame is larger than allowed.", status=413)
            return
        try:
            frame = parse_frame(text_data)
        except BadFrame as exc:
            await self.send_error("invalid_json", str(exc))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("invalid_frame", 'A frame is an object: {"type": ..., "data": {...}}.')
            return
        frame_type = frame["type"]
        data = frame.get("data", {})
        logger.info("frame %s", _shown(frame_type), extra={"frame_type": frame_type[:40]})
        if frame_type == "ping":
            await self.send_frame("pong", {"server_time": _now()})
        elif frame_type == "auth":
            await self.send_error("already_authenticated", "This socket is already authenticated.")
        elif frame_type == "typing":
            await self._run(frame_type, data, frames.typing, chat_group_names=set(self.chat_groups))
        elif frame_type == "message.send":
            reply = await self._run(frame_type, data, frames.message_send, channel_name=self.channel_name)
            if reply is not None:
                await self.send_frame(*reply)
        elif frame_type == "message.read":
            await self._run(frame_type, data, frames.message_read, channel_name=self.channel_name)
        elif frame_type == "relay.ack":
            acked = await self._run(frame_type, data, frames.relay_ack)
            if acked is not None:
                self._relay_pushed_at.pop(str(acked), None)
                if self._relay_window_full:
                    self._wake_relay_pump(read=True)  # room in the window: the next pending one goes out
        else:
            await self.send_error("unknown_type", f"Unknown frame type {_shown(frame_type)}.")

    async def _run(self, frame_type: str, data: Any, handler: Any, **kwargs: Any) -> Any:
        """Run a frame's handler in a worker thread; a refusal becomes an `error` frame naming
        the frame (and the id or client_message_id it was about, so the client can match it)."""
        assert self.identity is not None
        # database_sync_to_async: Django's per-request connection housekeeping, as a socket's
        # frames are not requests (a connection the database dropped is not reused).
        result, error = await database_sync_to_async(frames.run_frame)(
            handler, user_id=self.identity.user_id, data=data, **kwargs
        )
        if error is not None:
            error["frame"] = frame_type
            if isinstance(data, dict):
                for key in ("id", "client_message_id"):
                    if isinstance(data.get(key), str):
                        error[key] = data[key][:64]
            await self.send_frame("error", error)
        return result

    async def _receive_unauthenticated(self, text_data: str | None) -> None:
        """The one frame a socket may send before it is authenticated: a small `auth`. Anything
        else (binary, too big, not JSON, another type, a bad token) closes it with 4401 rather
        than being answered: an unauthenticated socket is served nothing, so it costs the server
        one frame at most (frames are handled in order; later ones find the socket closing)."""
        frame: Any = None
        limit = settings.REALTIME_PREAUTH_MAX_FRAME_BYTES
        # len() counts characters, each at least one byte: a cheap bound before encoding.
        if (
            text_data is not None
            and len(text_data) <= limit
            and len(text_data.encode("utf-8", "surrogatepass")) <= limit
        ):
            with contextlib.suppress(BadFrame):
                frame = parse_frame(text_data)
        if not isinstance(frame, dict) or frame.get("type") != "auth":
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        data = frame.get("data")
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
        per_user = message.get(PER_USER_KEY)
        if per_user is not None:
            # publish_per_user: the parts of the users this process serves; this socket's own only.
            part = per_user.get(me)
            if part is None:
                return
            if event_type not in _EVENTS_WITH_SOCKET_RULES:  # nothing below reads the merged data
                await self.send(text_data=spliced_frame(message, event_type, data, part))
                metrics.delivered(message)
                return
            data = {**data, **part}
        if event_type == group_events.GROUP_MEMBER_ADDED and me in data.get("user_ids", []):
            name = realtime_chat_group_name(data["group_id"])
            if name in self.chat_groups:
                return  # the user-addressed copy after the chat group's: a duplicate
            await self._join_chat_group(data["group_id"])
        elif event_type == group_events.GROUP_MEMBER_REMOVED and data.get("user_id") == me:
            name = realtime_chat_group_name(data["group_id"])
            if name not in self.chat_groups:
                return  # already had the chat group's copy (or connected after the removal)
            await self._leave_chat_group(data["group_id"])
        elif event_type == frames.TYPING and data.get("user_id") == me:
            return  # the typist's own devices
        elif event_type == RELAY_ENVELOPE:
            await self._forward_relay_envelope(data)
            return
        elif event_type == RELAY_ACKED:
            # Acked (here or on another device): no longer in flight; room for the next one.
            if self._relay_pushed_at.pop(str(data.get("id")), None) is not None and self._relay_window_full:
                self._wake_relay_pump(read=True)
        elif event_type == group_events.GROUP_DELETED:
            await self.send_frame(event_type, data)
            await self._leave_chat_group(data["group_id"])
            return
        await self.send_frame(event_type, data)
        metrics.delivered(message)

    async def access_revoked(self, message: dict[str, Any]) -> None:
        """A logout of this socket's session, or a ban or deletion of its user (any process)."""
        if self.identity is None:
            return
        session_id = message.get("session_id")
        if session_id is None or session_id == self.identity.session_id:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    # --- sending -------------------------------------------------------------------------------

    async def send_frame(self, frame_type: str, data: Mapping[str, Any]) -> None:
        await self.send(text_data=json.dumps({"type": frame_type, "data": data}))

    async def send_error(self, code: str, detail: str, *, status: int = 400) -> None:
        await self.send_frame("error", {"code": code, "detail": detail, "status": status})


# The events event_forward does more with than forward (a membership change, a relay window).
_EVENTS_WITH_SOCKET_RULES = frozenset(
    {
        group_events.GROUP_MEMBER_ADDED,
        group_events.GROUP_MEMBER_REMOVED,
        group_events.GROUP_DELETED,
        frames.TYPING,
        RELAY_ENVELOPE,
        RELAY_ACKED,
    }
)
# Where the shared part of a per-user frame is kept, encoded, on the layer message itself.
_SHARED_FRAME_KEY = "_shared_frame_head"


def spliced_frame(
    message: dict[str, Any], event_type: str, data: Mapping[str, Any], part: Mapping[str, Any]
) -> str:
    """`json.dumps({"type": event_type, "data": {**data, **part}})`, the same text, with the shared
    `data` encoded once per layer message rather than once per socket: channels_redis hands one
    message dict to every socket of the process it was pushed for (a thousand members' sockets
    for a group message), so the first socket keeps the encoded head on the message and each
    socket adds only its own part (its wrapped key)."""
    if not data or not part or any(key in data for key in part):  # nothing to splice, or a key overridden
        return json.dumps({"type": event_type, "data": {**data, **part}})
    head = message.get(_SHARED_FRAME_KEY)
    if head is None:
        # '{"type": ..., "data": {...}}' without its last two braces: the members' parts go there.
        head = message[_SHARED_FRAME_KEY] = json.dumps({"type": event_type, "data": data})[:-2]
    return f"{head}, {json.dumps(part)[1:]}}}"


def _session_reads(user_id: uuid.UUID) -> tuple[list[Any], list[Any], Exception | None]:
    """What a new session reads, in one worker-thread visit: its chat groups, and the head of its
    relay queue (or the error reading it: the relay store down does not refuse the socket)."""
    group_ids = list(group_ids_for_user(user_id=user_id))
    try:
        pending = envelopes_pending(recipient_id=user_id, limit=settings.REALTIME_RELAY_WINDOW)
    except Exception as exc:
        logger.warning("Relay envelopes could not be read for a socket", exc_info=True)
        return group_ids, [], exc
    return group_ids, pending, None


def _now() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


def _shown(value: str) -> str:
    return repr(value[:40])
