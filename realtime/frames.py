"""What the client frames do, as plain synchronous functions the consumer runs in a worker thread.

Each takes the socket's user and the frame's `data`, calls the same validation and the same
service as the REST endpoint that does the same thing (so a rule holds on both paths), and
returns the reply frame, if the frame has one. A refusal is raised as the exception REST would
raise and becomes an `error` frame through `error_frame_data`, with REST's code and status.
"""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from rest_framework import serializers

from accounts.selectors import active_user_exists
from contacts.selectors import accepted_contact_ids_among, is_blocked
from core.events import publish, publish_to_chat_group, realtime_chat_group_name
from core.exceptions import (
    ApplicationError,
    Forbidden,
    NotFound,
    RateLimited,
    api_exception_handler,
)
from core.throttling import user_throttle_wait
from messaging import services as messaging_services
from messaging.api import MessageSendThrottle
from messaging.selectors import conversation_messages
from messaging.serializers import MessageSendSerializer, message_payload
from relay import services as relay_services

TYPING = "typing"
TYPING_STATES = ("start", "stop")
# THROTTLE_RATES key: `typing` frames per user, one counter across their sockets and processes.
TYPING_THROTTLE_SCOPE = "typing"


class FrameRefused(ApplicationError):
    """A frame the gateway itself refuses (its fields, its target)."""


class _IdFrame(serializers.Serializer):
    id = serializers.UUIDField()


class _TypingFrame(serializers.Serializer):
    to_user_id = serializers.UUIDField(required=False)
    group_id = serializers.UUIDField(required=False)
    state = serializers.ChoiceField(choices=TYPING_STATES)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("to_user_id" in attrs) == ("group_id" in attrs):
            raise serializers.ValidationError("Give exactly one of to_user_id and group_id.")
        return attrs


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise serializers.ValidationError({"data": ["Expected an object."]})
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def message_send(*, user_id: UUID, data: Any, channel_name: str) -> tuple[str, dict[str, Any]]:
    """`message.send` → `message.sent` with the stored `<message>` (the first one on a retry).
    The sending socket gets `message.sent` instead of its own `message.new`."""
    fields = _validated(MessageSendSerializer, data)
    # REST's per-user send throttle, on the same counter: a socket is not a way around it.
    wait = user_throttle_wait(scope=MessageSendThrottle.scope, user_id=user_id)
    if wait is not None:
        raise RateLimited(retry_after=math.ceil(wait))
    message, created = messaging_services.message_send(
        sender_id=user_id, exclude_channel=channel_name, **fields
    )
    return "message.sent", {**message_payload(message, viewer_id=user_id), "created": created}


def message_read(*, user_id: UUID, data: Any, channel_name: str) -> None:
    """`message.read` `{id}`: the recipient marks one message read (REST's PUT /messages/{id}/read).
    The sender and the reader's other devices get `message.read`; this socket knows already."""
    fields = _validated(_IdFrame, data)
    messaging_services.message_mark_read(
        user_id=user_id, message_id=fields["id"], exclude_channel=channel_name
    )


def relay_ack(*, user_id: UUID, data: Any) -> UUID:
    """`relay.ack` `{id}`: the envelope is delivered and removed (REST's DELETE /relay/{id});
    every device of the user, this one too, gets `relay.acked`."""
    fields = _validated(_IdFrame, data)
    relay_services.envelope_ack(recipient_id=user_id, envelope_id=fields["id"])
    return fields["id"]


def may_type_to(*, user_id: UUID, target_id: UUID) -> bool:
    """Whether `user_id`'s typing may reach `target_id`: an accepted contact, or someone they
    already share a 1:1 conversation with (a message either way the typist can still see), and
    in both cases no block either way (checked by the caller first). A stranger, or a pending
    request with no message yet, hears nothing: typing is a liveness signal, like presence, and
    not a way to ping anyone whose id one knows."""
    if accepted_contact_ids_among(user_id=user_id, candidate_ids=[target_id]):
        return True
    return conversation_messages(user_id=user_id, peer_id=target_id).exists()


def typing(*, user_id: UUID, data: Any, chat_group_names: set[str]) -> None:
    """`typing` towards a user the typist may type to (`may_type_to`, no block either way), or
    towards a chat group the typist is in (`chat_group_names`: the socket's own live
    membership, so this costs no query). At most THROTTLE_TYPING per user, across sockets.
    Typing is never stored: a lost one is harmless."""
    fields = _validated(_TypingFrame, data)
    wait = user_throttle_wait(scope=TYPING_THROTTLE_SCOPE, user_id=user_id)
    if wait is not None:
        raise RateLimited(retry_after=math.ceil(wait))
    event = {"user_id": str(user_id), "state": fields["state"]}
    if "group_id" in fields:
        if realtime_chat_group_name(fields["group_id"]) not in chat_group_names:
            raise NotFound("No such group.", code="group_not_found")
        publish_to_chat_group(fields["group_id"], TYPING, {**event, "group_id": str(fields["group_id"])})
        return
    target = fields["to_user_id"]
    if target == user_id or not active_user_exists(user_id=target):
        raise NotFound("No such user.", code="user_not_found")
    if is_blocked(actor_id=user_id, target_id=target):
        raise Forbidden("You cannot reach this user.", code="blocked")
    if not may_type_to(user_id=user_id, target_id=target):
        raise Forbidden(
            "Typing reaches only your contacts and people you have a conversation with.",
            code="not_a_contact",
        )
    publish([target], TYPING, {**event, "to_user_id": str(target)})


def error_frame_data(exc: Exception) -> dict[str, Any]:
    """The REST envelope of `exc` ({detail, code, errors?}) plus its HTTP `status`."""
    response = api_exception_handler(exc, {"view": None})
    data = dict(response.data)
    data["status"] = response.status_code
    if "Retry-After" in response.headers:
        data["retry_after"] = int(response.headers["Retry-After"])
    return data


def run_frame(handler: Any, /, **kwargs: Any) -> tuple[Any, dict[str, Any] | None]:
    """Run `handler`: `(result, None)`, or `(None, error data)` for any exception (a refusal,
    a backend down as 503, or a bug, logged by the handler and answered as a 500)."""
    try:
        return handler(**kwargs), None
    except Exception as exc:
        return None, error_frame_data(exc)
