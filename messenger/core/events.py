"""The realtime publisher: events to users' sockets, sent only after the transaction commits.

Apps call `publish(user_ids, type, data)` (or `publish_to_chat_group`) from their services;
`messenger.realtime` owns the sockets and joins each one to the channel-layer groups named here.
A write that rolls back never reaches a socket (docs/ARCHITECTURE.md: "events after commit").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from messenger.core.metrics import stamp_committed

logger = logging.getLogger(__name__)

# The channel-layer message type the consumer handles (`event_forward`).
FORWARD_TYPE = "event.forward"


def realtime_user_group_name(user_id: UUID | str) -> str:
    """All of one user's connected devices."""
    return f"user.{user_id}"


def realtime_chat_group_name(group_id: UUID | str) -> str:
    """Every connected device of every member of one chat group."""
    return f"chatgroup.{group_id}"


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    # The Redis layer serialises with msgpack: UUIDs and datetimes must become strings first.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _send(group_names: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    send = async_to_sync(layer.group_send)
    message = stamp_committed(message)  # the consumer measures the delivery latency from here
    for name in group_names:
        try:
            send(name, message)
        except Exception:  # a dead Redis must not fail the request that already committed
            logger.exception("Could not publish %s to %s", message.get("event", {}).get("type"), name)


def build_message(
    event_type: str, data: dict[str, Any], *, exclude_channel: str | None = None
) -> dict[str, Any]:
    return {
        "type": FORWARD_TYPE,
        "event": {"type": event_type, "data": _jsonable(data)},
        "exclude_channel": exclude_channel,
    }


def publish(
    user_ids: Iterable[UUID | str],
    event_type: str,
    data: dict[str, Any],
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


def publish_to_chat_group(
    group_id: UUID | str,
    event_type: str,
    data: dict[str, Any],
    *,
    exclude_channel: str | None = None,
) -> None:
    """One `group_send` for a whole chat group, after commit (not one send per member)."""
    message = build_message(event_type, data, exclude_channel=exclude_channel)
    name = realtime_chat_group_name(group_id)
    transaction.on_commit(lambda: _send([name], message))
