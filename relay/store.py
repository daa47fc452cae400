"""Where envelopes live: one interface (`RelayStore`), two implementations that pass the same
test suite (tests/relay, parametrised over both).

- `RedisStore` (the real mode: REDIS_URL set, or RELAY_STORE=redis). Per recipient, under one
  hash tag so a cluster would keep them on one slot:
    `<prefix>:{<recipient>}:order`   sorted set, envelope id scored by creation time (µs)
    `<prefix>:{<recipient>}:expiry`  sorted set, envelope id scored by expiry time (µs)
    `<prefix>:{<recipient>}:env:<id>` hash (sender, created, expires, payload) with its own TTL
    `<prefix>:{<recipient>}:from:<sender>` sorted set, the sender's envelope ids scored by expiry
                                     (its share, RELAY_MAX_PENDING_PER_SENDER); expires with them
  and one global `<prefix>:due` sorted set, recipient scored by its earliest expiry, so the
  periodic purge visits only queues that hold something expired. Every operation is one Lua
  script, so it is atomic (queue-and-cap included) and one round trip; all of them read the
  clock from Redis (`TIME`), the same clock that expires the payload keys. An index entry
  whose payload is gone is never returned, whatever removed the payload.
- `DatabaseStore` (the embedded mode, or RELAY_STORE=database): the `relay_envelopes` table.
  Queue-and-cap runs in one transaction holding a per-recipient lock (an advisory lock on
  PostgreSQL; SQLite's write lock, taken at BEGIN IMMEDIATE, serialises writers anyway).

Both stores decide the envelope's `created_at` and `expires_at`, never return an expired
envelope, count only unexpired ones against the cap, and raise `RelayUnavailable` (503) when
their backend cannot be reached, having written nothing.
"""

from __future__ import annotations

import abc
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from relay.exceptions import RelayUnavailable
from relay.models import Envelope
from relay.statements import lock_recipient_queue

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_microseconds(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_microseconds(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(value))


@dataclass(frozen=True)
class RelayEnvelope:
    id: UUID
    sender_id: UUID
    recipient_id: UUID
    payload: bytes  # the ciphertext bytes (base64 on the wire)
    created_at: datetime  # aware, UTC
    expires_at: datetime  # aware, UTC


@dataclass(frozen=True)
class Queued:
    """What `queue_counted` stored, and the recipient's unexpired envelopes right after it (the
    depth metric, known to the write itself: no second read)."""

    envelope: RelayEnvelope
    depth: int


@dataclass(frozen=True)
class PendingCursor:
    """Where a page of pending envelopes ended: the next page starts strictly after it."""

    created_at: datetime
    id: UUID


class QueueIsFull(Exception):
    """The store refused an envelope: the recipient holds `max_pending` unexpired ones, or
    (`sender_share`) this sender holds `max_per_sender` of them."""

    def __init__(self, *, seconds_until_a_slot_frees: float, sender_share: bool = False) -> None:
        super().__init__("sender share full" if sender_share else "queue full")
        self.seconds_until_a_slot_frees = seconds_until_a_slot_frees
        self.sender_share = sender_share


class RelayStore(abc.ABC):
    name: str

    def queue(self, **kwargs: Any) -> RelayEnvelope:
        """`queue_counted`'s envelope."""
        return self.queue_counted(**kwargs).envelope

    @abc.abstractmethod
    def queue_counted(
        self,
        *,
        envelope_id: UUID,
        sender_id: UUID,
        recipient_id: UUID,
        payload: bytes,
        ttl_seconds: int,
        max_pending: int,
        max_per_sender: int | None = None,
    ) -> Queued:
        """Adds it, or raises QueueIsFull (nothing written): the recipient holds `max_pending`
        unexpired envelopes, or this sender holds `max_per_sender` of them (None: no share).
        `envelope_id` is fresh per call; the Redis store also survives its client retrying the
        call after a lost reply (the script stores an id once and answers the first outcome
        again)."""

    @abc.abstractmethod
    def pending(
        self, *, recipient_id: UUID, after: PendingCursor | None = None, limit: int | None = None
    ) -> list[RelayEnvelope]:
        """Unexpired envelopes, oldest first (ties by id), strictly after `after`."""

    @abc.abstractmethod
    def count(self, *, recipient_id: UUID) -> int:
        """How many unexpired envelopes the recipient holds (what the cap counts)."""

    @abc.abstractmethod
    def ack(self, *, recipient_id: UUID, envelope_id: UUID) -> bool:
        """Removes it; False when it is unknown, expired or in another recipient's queue."""

    @abc.abstractmethod
    def drop_queue(self, *, recipient_id: UUID) -> int:
        """Removes every envelope queued for the recipient; returns how many."""

    @abc.abstractmethod
    def drop_from_sender(self, *, recipient_id: UUID, sender_id: UUID) -> int:
        """Removes the envelopes `sender` queued for `recipient` (a block); returns how many
        index entries went (expired ones may be among them)."""

    @abc.abstractmethod
    def purge_expired(self) -> int:
        """Removes what has expired (index entries, rows); returns how many envelopes."""


# --- the database store ---------------------------------------------------------------------


def _from_row(row: Envelope) -> RelayEnvelope:
    return RelayEnvelope(
        id=row.id,
        sender_id=row.sender_id,
        recipient_id=row.recipient_id,
        payload=bytes(row.payload),
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class DatabaseStore(RelayStore):
    name = "database"

    def queue_counted(
        self,
        *,
        envelope_id: UUID,
        sender_id: UUID,
        recipient_id: UUID,
        payload: bytes,
        ttl_seconds: int,
        max_pending: int,
        max_per_sender: int | None = None,
    ) -> Queued:
        full_for: float | None = None
        sender_share = False
        # savepoint=False: joins a caller's transaction without a SAVEPOINT round trip. The
        # refusal is raised after the block, so it never marks a caller's transaction broken.
        with transaction.atomic(savepoint=False):
            lock_recipient_queue(recipient_id)
            now = timezone.now()
            queue = Envelope.objects.filter(recipient_id=recipient_id)
            # Expired rows must not count against the cap (the purge task may not have run yet).
            queue.filter(expires_at__lte=now).delete()
            mine = queue.filter(sender_id=sender_id)
            # Both counts in one statement: the queue's (the cap) and this sender's (its share).
            counts = queue.aggregate(total=Count("id"), mine=Count("id", filter=Q(sender_id=sender_id)))
            if counts["total"] >= max_pending:
                earliest = queue.aggregate(earliest=Min("expires_at"))["earliest"] or now
                full_for = (earliest - now).total_seconds()
            elif max_per_sender is not None and counts["mine"] >= max_per_sender:
                # This sender's share is used up: a slot of theirs frees when their oldest expires.
                earliest = mine.aggregate(earliest=Min("expires_at"))["earliest"] or now
                full_for, sender_share = (earliest - now).total_seconds(), True
            else:
                row = Envelope.objects.create(
                    id=envelope_id,
                    recipient_id=recipient_id,
                    sender_id=sender_id,
                    payload=payload,
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl_seconds),
                )
                return Queued(envelope=_from_row(row), depth=counts["total"] + 1)
        raise QueueIsFull(seconds_until_a_slot_frees=full_for, sender_share=sender_share)

    def pending(
        self, *, recipient_id: UUID, after: PendingCursor | None = None, limit: int | None = None
    ) -> list[RelayEnvelope]:
        rows = Envelope.objects.filter(recipient_id=recipient_id, expires_at__gt=timezone.now())
        if after is not None:
            rows = rows.filter(
                Q(created_at__gt=after.created_at) | Q(created_at=after.created_at, id__gt=after.id)
            )
        rows = rows.order_by("created_at", "id")
        if limit is not None:
            rows = rows[:limit]
        return [_from_row(row) for row in rows]

    def count(self, *, recipient_id: UUID) -> int:
        return Envelope.objects.filter(recipient_id=recipient_id, expires_at__gt=timezone.now()).count()

    def ack(self, *, recipient_id: UUID, envelope_id: UUID) -> bool:
        deleted, _ = Envelope.objects.filter(
            pk=envelope_id, recipient_id=recipient_id, expires_at__gt=timezone.now()
        ).delete()
        return deleted > 0

    def drop_queue(self, *, recipient_id: UUID) -> int:
        deleted, _ = Envelope.objects.filter(recipient_id=recipient_id).delete()
        return deleted

    def drop_from_sender(self, *, recipient_id: UUID, sender_id: UUID) -> int:
        deleted, _ = Envelope.objects.filter(recipient_id=recipient_id, sender_id=sender_id).delete()
        return deleted

    def purge_expired(self, *, batch_size: int = 5000) -> int:
        removed = 0
        now = timezone.now()
        while True:
            ids = list(Envelope.objects.filter(expires_at__lte=now).values_list("pk", flat=True)[:batch_size])
            if not ids:
                return removed
            deleted, _ = Envelope.objects.filter(pk__in=ids).delete()
            removed += deleted


# --- the Redis store ------------------------------------------------------------------------

_LUA_PRELUDE = """
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Integral numbers as plain digits (never "1.7e+15") wherever Redis stores or parses them.
local function int(n) return string.format('%d', n) end

-- Lua's unpack() takes a few thousand values at most: variadic calls go in chunks.
local function in_chunks(command, key, items)
  local i = 1
  while i <= #items do
    local j = math.min(i + 499, #items)
    if key then
      redis.call(command, key, unpack(items, i, j))
    else
      redis.call(command, unpack(items, i, j))
    end
    i = j + 1
  end
end

local function payload_keys(payload_prefix, ids)
  local keys = {}
  for i, id in ipairs(ids) do keys[i] = payload_prefix .. id end
  return keys
end

local function forget(order_key, expiry_key, payload_prefix, ids)
  in_chunks('ZREM', order_key, ids)
  in_chunks('ZREM', expiry_key, ids)
  in_chunks('DEL', false, payload_keys(payload_prefix, ids))
end

-- The expired entries of one queue go (their payload keys have expired or are about to).
local function trim(order_key, expiry_key, payload_prefix, now)
  local expired = redis.call('ZRANGE', expiry_key, '-inf', int(now), 'BYSCORE')
  if #expired > 0 then forget(order_key, expiry_key, payload_prefix, expired) end
  return #expired
end

-- The due index points at the queue's earliest expiry (or forgets an empty queue), and the
-- index keys expire with their last envelope, so an abandoned queue vanishes by itself.
local function reindex(order_key, expiry_key, due_key, recipient)
  local first = redis.call('ZRANGE', expiry_key, 0, 0, 'WITHSCORES')
  if #first == 0 then
    redis.call('DEL', order_key, expiry_key)
    redis.call('ZREM', due_key, recipient)
    return
  end
  redis.call('ZADD', due_key, first[2], recipient)
  local last = redis.call('ZRANGE', expiry_key, -1, -1, 'WITHSCORES')
  local at_ms = math.ceil(tonumber(last[2]) / 1000)
  redis.call('PEXPIREAT', order_key, int(at_ms))
  redis.call('PEXPIREAT', expiry_key, int(at_ms))
end
"""

# KEYS: order, expiry, payload, due, sender's share. ARGV: id, sender, ttl_us, max_pending,
# payload, payload_prefix, recipient, max_per_sender (0: no share). Returns {1, created_us,
# expires_us, depth}, {0, us_until_a_slot_frees} (queue full) or {2, us_until_...} (sender's share full).
_QUEUE = (
    _LUA_PRELUDE
    + """
local existing = redis.call('HMGET', KEYS[3], 'c', 'x')
if existing[1] then
  return {1, tonumber(existing[1]), tonumber(existing[2]), redis.call('ZCARD', KEYS[2])}
end
local now = now_us()
trim(KEYS[1], KEYS[2], ARGV[6], now)
local function earliest_after_now(key)
  local first = redis.call('ZRANGE', key, '(' .. int(now), '+inf', 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
  if #first > 0 then return tonumber(first[2]) end
  return now
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return {0, earliest_after_now(KEYS[2]) - now}
end
-- The sender's share: its unexpired envelopes in this queue. Counted without writing: the
-- payload's HSET below must stay the script's first write, the one Redis at its maxmemory refuses.
local share = tonumber(ARGV[8])
if share > 0 and redis.call('ZCOUNT', KEYS[5], '(' .. int(now), '+inf') >= share then
  return {2, earliest_after_now(KEYS[5]) - now}
end
-- Creation times only grow within a queue, so "oldest first" is arrival order and unique.
local created = now
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 and tonumber(last[2]) >= created then created = tonumber(last[2]) + 1 end
local expires = created + tonumber(ARGV[3])
redis.call('HSET', KEYS[3], 's', ARGV[2], 'c', int(created), 'x', int(expires), 'p', ARGV[5])
redis.call('PEXPIREAT', KEYS[3], int(math.ceil(expires / 1000)))
redis.call('ZADD', KEYS[1], int(created), ARGV[1])
redis.call('ZADD', KEYS[2], int(expires), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', int(now))
redis.call('ZADD', KEYS[5], int(expires), ARGV[1])
-- The share key expires with the sender's last envelope here, so it never outlives them.
local latest = redis.call('ZRANGE', KEYS[5], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[5], int(math.ceil(tonumber(latest[2]) / 1000)))
reindex(KEYS[1], KEYS[2], KEYS[4], ARGV[7])
return {1, created, expires, redis.call('ZCARD', KEYS[2])}
"""
)

# KEYS: order, expiry, due. ARGV: after_us ('' for the start), limit (0: all), payload_prefix,
# recipient. Returns a flat list: id, sender, created_us, expires_us, payload, id, ...
_PENDING = (
    _LUA_PRELUDE
    + """
local now = now_us()
local changed = trim(KEYS[1], KEYS[2], ARGV[3], now) > 0
local limit = tonumber(ARGV[2])
local lower = '-inf'
if ARGV[1] ~= '' then lower = '(' .. ARGV[1] end
local out = {}
local found = 0
while true do
  local page
  if limit > 0 then
    page = redis.call('ZRANGE', KEYS[1], lower, '+inf', 'BYSCORE', 'LIMIT', 0, limit - found, 'WITHSCORES')
  else
    page = redis.call('ZRANGE', KEYS[1], lower, '+inf', 'BYSCORE', 'WITHSCORES')
  end
  if #page == 0 then break end
  local lost = {}
  for i = 1, #page, 2 do
    local fields = redis.call('HMGET', ARGV[3] .. page[i], 's', 'c', 'x', 'p')
    if fields[1] then
      out[#out + 1] = page[i]
      for f = 1, 4 do out[#out + 1] = fields[f] end
      found = found + 1
    else
      -- Its payload is gone (evicted under memory pressure, say): so is its index entry.
      lost[#lost + 1] = page[i]
    end
    lower = '(' .. page[i + 1]
  end
  if #lost == 0 or limit == 0 then
    if #lost > 0 then forget(KEYS[1], KEYS[2], ARGV[3], lost); changed = true end
    break
  end
  forget(KEYS[1], KEYS[2], ARGV[3], lost)
  changed = true
end
if changed then reindex(KEYS[1], KEYS[2], KEYS[3], ARGV[4]) end
return out
"""
)

# KEYS: expiry. Returns the number of unexpired envelopes.
_COUNT = (
    _LUA_PRELUDE
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. int(now_us()), '+inf')
"""
)

# KEYS: order, expiry, payload. ARGV: id, share_prefix. Returns 1 if an unexpired envelope
# was removed.
_ACK = (
    _LUA_PRELUDE
    + """
local expires = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not expires then return 0 end
local sender = redis.call('HGET', KEYS[3], 's')
if sender then redis.call('ZREM', ARGV[2] .. sender, ARGV[1]) end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
if tonumber(expires) <= now_us() then return 0 end
return 1
"""
)

# KEYS: order, expiry, due. ARGV: payload_prefix, recipient, share_prefix. Returns how many
# were removed.
_DROP = (
    _LUA_PRELUDE
    + """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
-- The senders' share keys go too (one whose payloads are all gone expires by itself).
local senders, seen = {}, {}
for _, id in ipairs(ids) do
  local sender = redis.call('HGET', ARGV[1] .. id, 's')
  if sender and not seen[sender] then
    seen[sender] = true
    senders[#senders + 1] = ARGV[3] .. sender
  end
end
in_chunks('DEL', false, senders)
in_chunks('DEL', false, payload_keys(ARGV[1], ids))
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return #ids
"""
)

# KEYS: order, expiry, due, sender's share. ARGV: payload_prefix, recipient. The sender's
# envelopes go (its share set lists every one it queued here), the share key with them.
_DROP_FROM_SENDER = (
    _LUA_PRELUDE
    + """
local ids = redis.call('ZRANGE', KEYS[4], 0, -1)
if #ids > 0 then forget(KEYS[1], KEYS[2], ARGV[1], ids) end
redis.call('DEL', KEYS[4])
reindex(KEYS[1], KEYS[2], KEYS[3], ARGV[2])
return #ids
"""
)

# KEYS: due. ARGV: key prefix, batch size. Trims the queues whose earliest expiry has passed.
# Returns {queues visited, envelopes removed}.
_PURGE = (
    _LUA_PRELUDE
    + """
local now = now_us()
local due = redis.call('ZRANGE', KEYS[1], '-inf', int(now), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local removed = 0
for _, recipient in ipairs(due) do
  local base = ARGV[1] .. ':{' .. recipient .. '}:'
  removed = removed + trim(base .. 'order', base .. 'expiry', base .. 'env:', now)
  reindex(base .. 'order', base .. 'expiry', KEYS[1], recipient)
end
return {#due, removed}
"""
)


class RedisStore(RelayStore):
    name = "redis"

    def __init__(self, *, url: str, prefix: str, timeout: float) -> None:
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        self.prefix = prefix
        # Retrying is safe: the queue script is idempotent by envelope id, the others are
        # removals. Timeouts are short: a dead Redis must become a 503 quickly, not a hang.
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.25, base=0.02), 2),
        )
        self._unavailable: tuple[type[Exception], ...] = (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.ReadOnlyError,  # a replica after a failover, until it is promoted
            # At its maxmemory (noeviction), Redis refuses the first write of a script: nothing
            # was stored, and the relay cannot take envelopes until memory frees.
            redis.exceptions.OutOfMemoryError,
        )
        self._queue = self.client.register_script(_QUEUE)
        self._pending = self.client.register_script(_PENDING)
        self._count = self.client.register_script(_COUNT)
        self._ack = self.client.register_script(_ACK)
        self._drop = self.client.register_script(_DROP)
        self._drop_from_sender = self.client.register_script(_DROP_FROM_SENDER)
        self._purge = self.client.register_script(_PURGE)

    # key names (tests/relay reads them to check what is left in Redis)
    def queue_key(self, recipient_id: UUID, part: str) -> str:
        return f"{self.prefix}:{{{recipient_id}}}:{part}"

    def payload_key(self, recipient_id: UUID, envelope_id: UUID) -> str:
        return f"{self.prefix}:{{{recipient_id}}}:env:{envelope_id}"

    def share_key(self, recipient_id: UUID, sender_id: UUID) -> str:
        return f"{self.prefix}:{{{recipient_id}}}:from:{sender_id}"

    @property
    def due_key(self) -> str:
        return f"{self.prefix}:due"

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except self._unavailable as exc:
            raise RelayUnavailable() from exc

    def queue_counted(
        self,
        *,
        envelope_id: UUID,
        sender_id: UUID,
        recipient_id: UUID,
        payload: bytes,
        ttl_seconds: int,
        max_pending: int,
        max_per_sender: int | None = None,
    ) -> Queued:
        result = self._run(
            self._queue,
            [
                self.queue_key(recipient_id, "order"),
                self.queue_key(recipient_id, "expiry"),
                self.payload_key(recipient_id, envelope_id),
                self.due_key,
                self.share_key(recipient_id, sender_id),
            ],
            [
                str(envelope_id),
                str(sender_id),
                int(ttl_seconds) * 1_000_000,
                int(max_pending),
                payload,
                self.queue_key(recipient_id, "env:"),
                str(recipient_id),
                0 if max_per_sender is None else max(1, int(max_per_sender)),
            ],
        )
        if result[0] != 1:
            raise QueueIsFull(seconds_until_a_slot_frees=result[1] / 1_000_000, sender_share=result[0] == 2)
        envelope = RelayEnvelope(
            id=envelope_id,
            sender_id=sender_id,
            recipient_id=recipient_id,
            payload=payload,
            created_at=from_microseconds(result[1]),
            expires_at=from_microseconds(result[2]),
        )
        return Queued(envelope=envelope, depth=int(result[3]))

    def pending(
        self, *, recipient_id: UUID, after: PendingCursor | None = None, limit: int | None = None
    ) -> list[RelayEnvelope]:
        flat = self._run(
            self._pending,
            [self.queue_key(recipient_id, "order"), self.queue_key(recipient_id, "expiry"), self.due_key],
            [
                "" if after is None else to_microseconds(after.created_at),
                limit or 0,
                self.queue_key(recipient_id, "env:"),
                str(recipient_id),
            ],
        )
        envelopes = []
        for i in range(0, len(flat), 5):
            envelope_id, sender_id, created, expires, payload = flat[i : i + 5]
            envelopes.append(
                RelayEnvelope(
                    id=UUID(envelope_id.decode()),
                    sender_id=UUID(sender_id.decode()),
                    recipient_id=recipient_id,
                    payload=bytes(payload),
                    created_at=from_microseconds(int(created)),
                    expires_at=from_microseconds(int(expires)),
                )
            )
        return envelopes

    def count(self, *, recipient_id: UUID) -> int:
        return int(self._run(self._count, [self.queue_key(recipient_id, "expiry")], []))

    def ack(self, *, recipient_id: UUID, envelope_id: UUID) -> bool:
        removed = self._run(
            self._ack,
            [
                self.queue_key(recipient_id, "order"),
                self.queue_key(recipient_id, "expiry"),
                self.payload_key(recipient_id, envelope_id),
            ],
            [str(envelope_id), self.queue_key(recipient_id, "from:")],
        )
        return removed == 1

    def drop_queue(self, *, recipient_id: UUID) -> int:
        return int(
            self._run(
                self._drop,
                [self.queue_key(recipient_id, "order"), self.queue_key(recipient_id, "expiry"), self.due_key],
                [
                    self.queue_key(recipient_id, "env:"),
                    str(recipient_id),
                    self.queue_key(recipient_id, "from:"),
                ],
            )
        )

    def drop_from_sender(self, *, recipient_id: UUID, sender_id: UUID) -> int:
        return int(
            self._run(
                self._drop_from_sender,
                [
                    self.queue_key(recipient_id, "order"),
                    self.queue_key(recipient_id, "expiry"),
                    self.due_key,
                    self.share_key(recipient_id, sender_id),
                ],
                [self.queue_key(recipient_id, "env:"), str(recipient_id)],
            )
        )

    def purge_expired(self, *, batch_size: int = 200) -> int:
        removed = 0
        while True:
            visited, trimmed = self._run(self._purge, [self.due_key], [self.prefix, batch_size])
            removed += int(trimmed)
            if int(visited) < batch_size:
                return removed


# --- which store ----------------------------------------------------------------------------

_stores: dict[tuple[Any, ...], RelayStore] = {}
_stores_lock = threading.Lock()


def get_store() -> RelayStore:
    """The store settings choose (RELAY_STORE, which the settings validate at startup), built once
    per configuration."""
    if settings.RELAY_STORE == "database":
        key: tuple[Any, ...] = ("database",)
    else:
        key = (
            "redis",
            settings.RELAY_REDIS_URL,
            settings.RELAY_REDIS_PREFIX,
            settings.RELAY_REDIS_TIMEOUT_SECONDS,
        )
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                store = (
                    DatabaseStore()
                    if key[0] == "database"
                    else RedisStore(url=key[1], prefix=key[2], timeout=float(key[3]))
                )
                _stores[key] = store
    return store


def new_envelope_id() -> UUID:
    return uuid.uuid4()
