"""Presence: who is online, counted across server processes.

The gateway consumer calls the three hooks below for each authenticated socket: opened, refreshed
every `heartbeat_interval_seconds()` (all of a process's sockets at once, from one task:
realtime/heartbeat.py), closed. The store (presence_store.py: Redis, or this
process's memory in the embedded mode) counts the user's live connections and says when the first
one appears (online) or the last one goes (offline); only then does this module publish a
`presence` event `{user_id, online, last_seen}`, to the user's accepted contacts only (a pending
or blocked pair sees nothing: contacts/selectors.py).

Off the hot path (Zulip found presence a large share of its load): a heartbeat is one Redis call
in a worker thread; it touches the database only when the last_seen throttle lets it (at most one
UPDATE per user per REALTIME_LAST_SEEN_WRITE_SECONDS, claimed in the store, so many devices and
processes do not each write). Going offline writes last_seen unconditionally: it is the value the
contacts are shown, in the event, in GET /presence and in GET /users/{id}. While a user is online
their `last_seen` in presence is null.

A process that dies never closes its sockets: their entries expire REALTIME_PRESENCE_TTL_SECONDS
after their last heartbeat, and `presence_sweep` (a beat task, every ~30 s) declares such users
offline, once, with last_seen = their last heartbeat.

Presence is best effort: a hook that fails (Redis down) logs and returns, and the socket lives on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import user_record_last_seen
from contacts.selectors import accepted_contact_ids
from core.events import publish
from presence.events import PRESENCE, PresenceStatus, presence_payload
from presence.store import PresenceStore, Touched, get_store

logger = logging.getLogger(__name__)


def heartbeat_interval_seconds() -> float:
    """How often the consumer must call `presence_connection_refreshed` for each open socket."""
    return float(settings.REALTIME_PRESENCE_HEARTBEAT_SECONDS)


# --- the consumer's hooks -------------------------------------------------------------------------


async def presence_connection_opened(*, user_id: UUID, connection_id: str) -> bool:
    """A socket of `user_id` authenticated (`connection_id` is its channel name). False when the
    user already holds REALTIME_MAX_SOCKETS_PER_USER live sockets (every process counted): this
    one is not counted and the consumer must close it. With the store down it is let in (presence
    is best effort; the per-connection frame limits still hold)."""
    touched = await _touch(
        user_id=user_id, connection_id=connection_id, max_connections=settings.REALTIME_MAX_SOCKETS_PER_USER
    )
    return touched is None or not touched.refused


async def presence_connection_refreshed(*, user_id: UUID, connection_id: str) -> None:
    """The socket is still open (called every `heartbeat_interval_seconds()`)."""
    await presence_connections_refreshed([(user_id, connection_id)])


async def presence_connections_refreshed(connections: list[tuple[UUID, str]]) -> None:
    """Every listed (user id, connection id) is still open: the process heartbeat of all its
    sockets in one store call (one Redis round trip per thousand), and one database visit for
    those whose user came online or whose last_seen write is due (the rare case)."""
    if not connections:
        return
    try:
        store = get_store()
        touched = await _call(
            store,
            store.touch_many,
            connections=connections,
            ttl_seconds=settings.REALTIME_PRESENCE_TTL_SECONDS,
            last_seen_interval_seconds=settings.REALTIME_LAST_SEEN_WRITE_SECONDS,
        )
        due = [
            (user_id, result)
            for (user_id, _), result in zip(connections, touched, strict=True)
            if result.became_online or result.last_seen_due
        ]
        if due:
            await database_sync_to_async(_after_touches)(due)
    except Exception:
        logger.warning("Presence could not record live sockets", exc_info=True)


async def presence_connection_closed(*, user_id: UUID, connection_id: str) -> None:
    """The socket closed (for any reason, after it had authenticated)."""
    try:
        store = get_store()
        went_offline = await _call(store, store.close, user_id=user_id, connection_id=connection_id)
        if went_offline:
            await database_sync_to_async(announce_offline)(user_id=user_id, last_seen=timezone.now())
    except Exception:
        logger.warning("Presence could not record a closed socket", exc_info=True)


async def _touch(*, user_id: UUID, connection_id: str, max_connections: int = 0) -> Touched | None:
    """What the store did (None when it failed: logged)."""
    touched = None
    try:
        store = get_store()
        touched = await _call(
            store,
            store.touch,
            user_id=user_id,
            connection_id=connection_id,
            ttl_seconds=settings.REALTIME_PRESENCE_TTL_SECONDS,
            last_seen_interval_seconds=settings.REALTIME_LAST_SEEN_WRITE_SECONDS,
            max_connections=max_connections,
        )
        # The common heartbeat (nothing changed, last_seen recent) ends here: no database.
        if touched.became_online or touched.last_seen_due:
            await database_sync_to_async(_after_touch)(user_id=user_id, touched=touched)
    except Exception:
        logger.warning("Presence could not record a live socket", exc_info=True)
    return touched


async def _call(store: PresenceStore, method: Callable[..., Any], **kwargs: Any) -> Any:
    if store.blocking:
        # Not thread_sensitive: a Redis round trip must not queue behind the database work that
        # Django's one thread-sensitive thread does for every socket of the process.
        return await sync_to_async(method, thread_sensitive=False)(**kwargs)
    return method(**kwargs)


def _after_touches(due: list[tuple[UUID, Touched]]) -> None:
    for user_id, touched in due:
        try:
            _after_touch(user_id=user_id, touched=touched)
        except Exception:  # one user's failure must not skip the others
            logger.warning("Presence could not record a live socket", exc_info=True)


def _after_touch(*, user_id: UUID, touched: Touched) -> None:
    if touched.last_seen_due:
        user_record_last_seen(
            user_id=user_id,
            at=timezone.now(),
            unless_newer_than=timedelta(seconds=settings.REALTIME_LAST_SEEN_WRITE_SECONDS),
        )
    if touched.became_online:
        _announce(PresenceStatus(user_id=user_id, online=True, last_seen=None))


# --- transitions ------------------------------------------------------------------------------------


def announce_offline(*, user_id: UUID, last_seen: datetime) -> None:
    """The user's last connection is gone: last_seen written (unconditionally), then the event."""
    with transaction.atomic():  # the event goes out on commit, after the write it reports
        user_record_last_seen(user_id=user_id, at=last_seen)
        _announce(PresenceStatus(user_id=user_id, online=False, last_seen=last_seen))


def _announce(status: PresenceStatus) -> None:
    contact_ids = accepted_contact_ids(user_id=status.user_id)
    publish(contact_ids, PRESENCE, presence_payload(status))


def presence_sweep() -> int:
    """Declares offline every user whose connections all expired unclosed (their process died);
    returns how many. last_seen is their last heartbeat (latest expiry minus the TTL)."""
    ttl = timedelta(seconds=settings.REALTIME_PRESENCE_TTL_SECONDS)
    now = timezone.now()
    expired = get_store().sweep()
    for entry in expired:
        try:
            announce_offline(user_id=entry.user_id, last_seen=min(now, entry.last_expiry - ttl))
        except Exception:  # the store already forgot them: log, and do the others
            logger.exception("Could not announce a swept user offline")
    return len(expired)
