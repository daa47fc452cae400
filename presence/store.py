"""Where presence lives: one interface (`PresenceStore`), two implementations.

A user is *announced online* from the moment their first live connection is counted until the
store declares them offline: their last connection closed, or every connection they had expired
(a crashed process never closes its sockets; the periodic sweep finds those). Each call answers
whether it made such a transition, exactly once across every server process, so the caller
publishes each `presence` event once.

- `RedisStore` (REDIS_URL set: several server processes share it). Keys under
  REALTIME_PRESENCE_REDIS_PREFIX:
    `<prefix>:{<user>}:conns`  sorted set, connection id scored by its expiry (ms)
    `<prefix>:{<user>}:seen`   "last_seen was written recently", a key with that TTL
    `<prefix>:online`          sorted set, announced-online user scored by their latest expiry,
                               so the sweep visits only users whose every connection expired
  Each operation is one Lua script (atomic: two processes closing a user's last two sockets at
  once announce one offline between them) reading Redis's clock (`TIME`), so the processes'
  clocks do not have to agree on expiries.
- `MemoryStore` (the embedded mode: one process, the in-memory channel layer): the same rules on
  dicts under a lock. It dies with its process, and so do the sockets it counts.

A connection's expiry is `now + ttl_seconds`; the consumer refreshes it every heartbeat. A
`ttl_seconds` of zero or less stores one already expired: what a crashed process's connection
looks like once its TTL has passed (tests use that instead of waiting).
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.conf import settings


def from_milliseconds(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


@dataclass(frozen=True)
class Touched:
    """What opening or refreshing a connection did."""

    became_online: bool  # the user had no announced presence: this is their first live connection
    last_seen_due: bool  # no last_seen write was claimed within the throttle interval: write one now
    # A new connection not stored: the user already holds `max_connections` live ones.
    refused: bool = False


@dataclass(frozen=True)
class Expired:
    """A user the sweep declared offline: every connection of theirs expired unclosed."""

    user_id: UUID
    last_expiry: datetime  # the latest expiry among them (its last refresh + the TTL)


class PresenceStore(abc.ABC):
    name: str
    # Whether a call waits on the network (the caller then runs it in a worker thread).
    blocking: bool

    @abc.abstractmethod
    def touch(
        self,
        *,
        user_id: UUID,
        connection_id: str,
        ttl_seconds: float,
        last_seen_interval_seconds: float,
        max_connections: int = 0,
    ) -> Touched:
        """Opens or refreshes a connection: it now expires in `ttl_seconds`. Expired connections
        of the user are dropped first. `last_seen_due` is True at most once per interval per
        user (the claim is made here, so concurrent refreshes do not all write). With
        `max_connections` > 0, a connection not yet stored is refused (nothing changes) when the
        user already has that many live ones: the check and the add are one step, so sockets
        opening at once on several processes cannot all slip under the cap."""

    def touch_many(
        self, *, connections: list[tuple[UUID, str]], ttl_seconds: float, last_seen_interval_seconds: float
    ) -> list[Touched]:
        """`touch` for each (user id, connection id), in order (a process's heartbeat of all its
        sockets): one round trip where the store can."""
        return [
            self.touch(
                user_id=user_id,
                connection_id=connection_id,
                ttl_seconds=ttl_seconds,
                last_seen_interval_seconds=last_seen_interval_seconds,
            )
            for user_id, connection_id in connections
        ]

    @abc.abstractmethod
    def close(self, *, user_id: UUID, connection_id: str) -> bool:
        """Removes the connection; True when that made the announced-online user offline (no live
        connection left)."""

    @abc.abstractmethod
    def sweep(self, *, limit: int = 500) -> list[Expired]:
        """Declares offline (and forgets) each announced-online user whose connections have all
        expired; returns them, each once whatever number of sweeps run at the same time."""

    @abc.abstractmethod
    def online_among(self, *, user_ids: Iterable[UUID]) -> set[UUID]:
        """The subset of `user_ids` announced online (what their contacts were last told)."""

    @abc.abstractmethod
    def forget_everything(self) -> None:
        """Drops every entry (tests; an operator resetting presence)."""


# --- the memory store ---------------------------------------------------------------------------


class MemoryStore(PresenceStore):
    name = "memory"
    blocking = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[UUID, dict[str, float]] = {}  # user -> connection -> expiry (ms)
        self._online: dict[UUID, float] = {}  # announced online -> latest expiry (ms)
        self._seen_claimed_until: dict[UUID, float] = {}  # user -> end of the last_seen throttle (ms)

    @staticmethod
    def _now() -> float:
        return time.time() * 1000

    def _prune(self, user_id: UUID, now: float) -> dict[str, float]:
        connections = self._connections.get(user_id, {})
        for connection_id in [c for c, expiry in connections.items() if expiry <= now]:
            del connections[connection_id]
        return connections

    def touch(
        self,
        *,
        user_id: UUID,
        connection_id: str,
        ttl_seconds: float,
        last_seen_interval_seconds: float,
        max_connections: int = 0,
    ) -> Touched:
        with self._lock:
            now = self._now()
            was_online = user_id in self._online
            connections = self._prune(user_id, now)
            if 0 < max_connections <= len(connections) and connection_id not in connections:
                return Touched(became_online=False, last_seen_due=False, refused=True)
            connections[connection_id] = now + ttl_seconds * 1000
            self._connections[user_id] = connections
            live = any(expiry > now for expiry in connections.values())
            if live or was_online:
                self._online[user_id] = max(connections.values())
            seen_due = False
            if live and (last_seen_interval_seconds <= 0 or self._seen_claimed_until.get(user_id, 0) <= now):
                self._seen_claimed_until[user_id] = now + last_seen_interval_seconds * 1000
                seen_due = True
            return Touched(became_online=live and not was_online, last_seen_due=seen_due)

    def close(self, *, user_id: UUID, connection_id: str) -> bool:
        with self._lock:
            now = self._now()
            connections = self._prune(user_id, now)
            connections.pop(connection_id, None)
            if connections:
                self._online[user_id] = max(connections.values())
                return False
            self._connections.pop(user_id, None)
            return self._online.pop(user_id, None) is not None

    def sweep(self, *, limit: int = 500) -> list[Expired]:
        with self._lock:
            now = self._now()
            expired = []
            for user_id, latest in list(self._online.items()):
                if latest > now:
                    continue
                connections = self._prune(user_id, now)
                if connections:
                    self._online[user_id] = max(connections.values())
                    continue
                self._connections.pop(user_id, None)
                del self._online[user_id]
                expired.append(Expired(user_id=user_id, last_expiry=from_milliseconds(latest)))
            return expired

    def online_among(self, *, user_ids: Iterable[UUID]) -> set[UUID]:
        with self._lock:
            return {user_id for user_id in user_ids if user_id in self._online}

    def forget_everything(self) -> None:
        with self._lock:
            self._connections.clear()
            self._online.clear()
            self._seen_claimed_until.clear()


# --- the Redis store ----------------------------------------------------------------------------

_LUA_PRELUDE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Integral numbers as plain digits (never "1.7e+12") wherever Redis stores or parses them.
local function int(n) return string.format('%d', n) end

-- The user's expired connections go; returns how many live ones are left.
local function prune(conns, now)
  redis.call('ZREMRANGEBYSCORE', conns, '-inf', int(now))
  return redis.call('ZCARD', conns)
end

local function latest_expiry(conns)
  local last = redis.call('ZRANGE', conns, -1, -1, 'WITHSCORES')
  if #last == 0 then return nil end
  return tonumber(last[2])
end
"""

# KEYS: conns, online, seen. ARGV: connection id, ttl (ms), user id, last_seen interval (ms),
# max connections (0: no cap). Returns {became_online, last_seen_due, refused}.
_TOUCH = (
    _LUA_PRELUDE
    + """
local now = now_ms()
local was_online = redis.call('ZSCORE', KEYS[2], ARGV[3])
local live_count = prune(KEYS[1], now)
local cap = tonumber(ARGV[5])
if cap > 0 and live_count >= cap and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return {0, 0, 1}
end
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[2])), ARGV[1])
local latest = latest_expiry(KEYS[1])
-- The set vanishes by itself once its last connection expired (the online index, not this set,
-- is what the sweep reads).
redis.call('PEXPIREAT', KEYS[1], int(math.max(latest, now) + 1))
local live = latest > now
if live or was_online then
  -- Already expired and announced online: scored in the past, so the next sweep sees it.
  redis.call('ZADD', KEYS[2], int(latest), ARGV[3])
end
local became_online = 0
if live and not was_online then became_online = 1 end
local seen_due = 0
if live then
  local interval = tonumber(ARGV[4])
  if interval <= 0 or redis.call('SET', KEYS[3], '1', 'PX', int(interval), 'NX') then seen_due = 1 end
end
return {became_online, seen_due, 0}
"""
)

# KEYS: conns, online. ARGV: connection id, user id. Returns 1 if the user just went offline.
_CLOSE = (
    _LUA_PRELUDE
    + """
local now = now_ms()
redis.call('ZREM', KEYS[1], ARGV[1])
if prune(KEYS[1], now) > 0 then
  redis.call('ZADD', KEYS[2], int(latest_expiry(KEYS[1])), ARGV[2])
  return 0
end
redis.call('DEL', KEYS[1])
return redis.call('ZREM', KEYS[2], ARGV[2])
"""
)

# KEYS: online. ARGV: key prefix, batch size. Returns {users visited, {user, latest expiry, ...}}.
_SWEEP = (
    _LUA_PRELUDE
    + """
local now = now_ms()
local due = redis.call('ZRANGE', KEYS[1], '-inf', int(now), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]), 'WITHSCORES')
local expired = {}
for i = 1, #due, 2 do
  local user = due[i]
  local conns = ARGV[1] .. ':{' .. user .. '}:conns'
  if prune(conns, now) > 0 then
    redis.call('ZADD', KEYS[1], int(latest_expiry(conns)), user)
  else
    redis.call('DEL', conns)
    redis.call('ZREM', KEYS[1], user)
    expired[#expired + 1] = user
    expired[#expired + 1] = due[i + 1]
  end
end
return {#due / 2, expired}
"""
)


class RedisStore(PresenceStore):
    name = "redis"
    blocking = True

    def __init__(self, *, url: str, prefix: str, timeout: float) -> None:
        import redis

        self.prefix = prefix
        # Short timeouts: a dead Redis must not hold a socket's connect or heartbeat for long
        # (the hooks log and carry on; presence is best effort, the socket is not).
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, health_check_interval=30
        )
        self._touch = self.client.register_script(_TOUCH)
        self._close = self.client.register_script(_CLOSE)
        self._sweep = self.client.register_script(_SWEEP)

    def user_key(self, user_id: UUID | str, part: str) -> str:
        return f"{self.prefix}:{{{user_id}}}:{part}"

    @property
    def online_key(self) -> str:
        return f"{self.prefix}:online"

    def touch(
        self,
        *,
        user_id: UUID,
        connection_id: str,
        ttl_seconds: float,
        last_seen_interval_seconds: float,
        max_connections: int = 0,
    ) -> Touched:
        reply = self._touch(
            **self._touch_call(
                user_id, connection_id, ttl_seconds, last_seen_interval_seconds, max_connections
            )
        )
        return _touched(reply)

    # Per pipeline: a heartbeat of 10,000 sockets is a few round trips of bounded size.
    TOUCH_BATCH = 1000

    def touch_many(
        self, *, connections: list[tuple[UUID, str]], ttl_seconds: float, last_seen_interval_seconds: float
    ) -> list[Touched]:
        touched: list[Touched] = []
        for start in range(0, len(connections), self.TOUCH_BATCH):
            pipe = self.client.pipeline(transaction=False)
            for user_id, connection_id in connections[start : start + self.TOUCH_BATCH]:
                self._touch(
                    **self._touch_call(user_id, connection_id, ttl_seconds, last_seen_interval_seconds, 0),
                    client=pipe,
                )
            touched.extend(_touched(reply) for reply in pipe.execute())
        return touched

    def _touch_call(
        self,
        user_id: UUID,
        connection_id: str,
        ttl_seconds: float,
        last_seen_interval_seconds: float,
        max_connections: int,
    ) -> dict[str, Any]:
        return {
            "keys": [self.user_key(user_id, "conns"), self.online_key, self.user_key(user_id, "seen")],
            "args": [
                connection_id,
                int(ttl_seconds * 1000),
                str(user_id),
                int(last_seen_interval_seconds * 1000),
                int(max_connections),
            ],
        }

    def close(self, *, user_id: UUID, connection_id: str) -> bool:
        went_offline = self._close(
            keys=[self.user_key(user_id, "conns"), self.online_key], args=[connection_id, str(user_id)]
        )
        return went_offline == 1

    def sweep(self, *, limit: int = 500) -> list[Expired]:
        expired: list[Expired] = []
        while True:
            visited, flat = self._sweep(keys=[self.online_key], args=[self.prefix, limit])
            for i in range(0, len(flat), 2):
                expired.append(
                    Expired(user_id=UUID(flat[i].decode()), last_expiry=from_milliseconds(float(flat[i + 1])))
                )
            if int(visited) < limit:
                return expired

    def online_among(self, *, user_ids: Iterable[UUID]) -> set[UUID]:
        ids = list(user_ids)
        if not ids:
            return set()
        scores = self.client.zmscore(self.online_key, [str(user_id) for user_id in ids])
        return {user_id for user_id, score in zip(ids, scores, strict=True) if score is not None}

    def forget_everything(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            self.client.delete(*keys)


def _touched(reply: list[int]) -> Touched:
    became_online, seen_due, refused = reply
    return Touched(became_online=became_online == 1, last_seen_due=seen_due == 1, refused=refused == 1)


# --- which store --------------------------------------------------------------------------------

_stores: dict[tuple[Any, ...], PresenceStore] = {}
_stores_lock = threading.Lock()


def get_store() -> PresenceStore:
    """Redis when REDIS_URL is set (every process counts in one place), else this process's
    memory; built once per configuration."""
    url = settings.REDIS_URL
    key: tuple[Any, ...] = (
        (
            "redis",
            url,
            settings.REALTIME_PRESENCE_REDIS_PREFIX,
            settings.REALTIME_PRESENCE_REDIS_TIMEOUT_SECONDS,
        )
        if url
        else ("memory",)
    )
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                store = RedisStore(url=key[1], prefix=key[2], timeout=float(key[3])) if url else MemoryStore()
                _stores[key] = store
    return store
