"""The realtime publisher: events to users' sockets, sent only after the transaction commits.

Apps call `publish(user_ids, type, data)` (or `publish_to_chat_group`, or `publish_per_user` when
each user must get a part of their own) from their services; `realtime` owns the sockets
and joins each one to the channel-layer groups named here. A write that rolls back never reaches a
socket (docs/ARCHITECTURE.md: "events after commit").

One event is one send to the layer, whatever the number of groups (layer_fanout.py: with Redis,
two round trips on a connection the process keeps, no event loop; a dead Redis is logged and the
committed request still succeeds).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from core.layer_fanout import LayerMessage, send_layer_message
from core.metrics import stamp_committed

logger = logging.getLogger(__name__)

# The channel-layer message type the consumer handles (`event_forward`).
FORWARD_TYPE = "event.forward"


def realtime_user_group_name(user_id: UUID | str) -> str:
    """All of one user's connected devices."""
    return f"user.{user_id}"


def realtime_chat_group_name(group_id: UUID | str) -> str:
    """Every connected device of every member of one chat group."""
    return f"chatgroup.{group_id}"


def _jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    # The Redis layer serialises with msgpack: UUIDs and datetimes must become strings first.
    jsonable: dict[str, Any] = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return jsonable


def _send(
    group_names: list[str],
    message: dict[str, Any],
    user_parts: dict[str, tuple[str, dict[str, Any]]] | None = None,
) -> None:
    """`message` to every channel of `group_names`, plus, for each user group in `user_parts`,
    that user's part (to their channels only)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = stamp_committed(message)  # the consumer measures the delivery latency from here
    try:
        send_layer_message(layer, LayerMessage(body=message, groups=group_names, user_parts=user_parts or {}))
    except Exception:  # a dead Redis must not fail the request that already committed
        logger.exception(
            "Could not publish %s to %s",
            message.get("event", {}).get("type"),
            ", ".join([*group_names, *(user_parts or {})][:3]),
        )


def send_now(group_names: list[str], message: dict[str, Any]) -> None:
    """A raw layer message (its own `type`) to groups, now, not on commit: what is not an event
    of a write (a revoked session's sockets must close). Raises what the layer raises."""
    layer = get_channel_layer()
    if layer is not None:
        send_layer_message(layer, LayerMessage(body=message, groups=group_names))


def build_message(
    event_type: str, data: Mapping[str, Any], *, exclude_channel: str | None = None
) -> dict[str, Any]:
    return {
        "type": FORWARD_TYPE,
        "event": {"type": event_type, "data": _jsonable(data)},
        "exclude_channel": exclude_channel,
    }


def publish(
    user_ids: Iterable[UUID | str],
    event_type: str,
    data: Mapping[str, Any],
    *,
    exclude_channel: str | None = None,
) -> None:
    """Send `{"type": event_type, "data": data}` to every device of each user, after commit.

    `exclude_channel` skips one socket (the device that made the change already knows).
    """
    names = sorted({realtime_user_group_name(uid) for uid in user_ids})
    if not names:
        return
    message = build_message(event_type, data, exclude_channel=exclude_channel)
    transaction.on_commit(lambda: _send(names, message))


def publish_per_user(
    parts: Mapping[UUID | str, dict[str, Any]],
    event_type: str,
    data: Mapping[str, Any],
    *,
    exclude_channel: str | None = None,
) -> None:
    """Send `data` to every device of each user of `parts`, each frame's data merged with that
    user's own part (`{**data, **parts[user]}`), after commit. A user's part reaches no other
    user's socket, and one event costs O(users) bytes (a group message's wrapped keys)."""
    if not parts:
        return
    message = build_message(event_type, data, exclude_channel=exclude_channel)
    if all(type(value) is str for part in parts.values() for value in part.values()):
        # Plain text parts (a group message's wrapped keys, a thousand at the cap) are JSON as they
        # are: copied, not encoded and decoded again.
        json_parts = {str(user_id): dict(part) for user_id, part in parts.items()}
    else:
        json_parts = _jsonable({str(user_id): part for user_id, part in parts.items()})  # one pass for all
    user_parts = {realtime_user_group_name(user_id): (user_id, part) for user_id, part in json_parts.items()}
    transaction.on_commit(lambda: _send([], message, user_parts))


def publish_to_chat_group(
    group_id: UUID | str,
    event_type: str,
    data: Mapping[str, Any],
    *,
    exclude_channel: str | None = None,
) -> None:
    """One `group_send` for a whole chat group, after commit (not one send per member)."""
    message = build_message(event_type, data, exclude_channel=exclude_channel)
    name = realtime_chat_group_name(group_id)
    transaction.on_commit(lambda: _send([name], message))
