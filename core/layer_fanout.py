"""Sending layer messages to channel-layer groups from synchronous code, without an event loop.

channels_redis only offers `async group_send`: from a view, a Celery task or an on-commit
callback, `async_to_sync` then makes a thread, an event loop and a Redis connection per call, and
each group costs four round trips (issue 15: a third of a send's CPU). `RedisGroupSender` speaks
the same storage format as channels_redis 4.x (its `group_send`, byte for byte: the group's
sorted set of channel names, one message per process inbox carrying `__asgi_channel__`, msgpack
with the layer's random prefix) through a synchronous redis-py client kept per process (its pool
is thread-safe and fork-aware: gunicorn's gthreads, uvicorn's sync-view threads and Celery share
a few connections). Any number of groups cost two round trips per shard: one script reading
every group's members, one script pushing to every inbox (capacity check, push, expiry).

`LayerMessage.user_parts` carries a part of the message for one user only (a group message's
wrapped key): each process inbox gets the parts of the users whose sockets it holds, nothing
more, so the bytes and work per event are O(members), not O(members²). The consumer merges its
user's part into the frame (realtime/consumers.py).

Any other layer (the in-memory one of the embedded mode, an encrypted or sentinel Redis layer)
goes through the layer's own `group_send` (one `async_to_sync` for the whole event), each
user's part sent to that user's group only.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync

logger = logging.getLogger(__name__)

# Per inbox: drop expired messages, refuse when full (as channels_redis: counted, not raised),
# push, refresh the expiry. KEYS: inboxes. ARGV: a message per inbox, a capacity per inbox,
# now, expiry. Returns how many inboxes were full.
_PUSH_TO_INBOXES = """
local n = #KEYS
local now = tonumber(ARGV[2 * n + 1])
local expiry = tonumber(ARGV[2 * n + 2])
local full = 0
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, math.floor(now) - expiry)
  if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[n + i]) then
    redis.call('ZADD', KEYS[i], ARGV[2 * n + 1], ARGV[i])
    redis.call('EXPIRE', KEYS[i], expiry)
  else
    full = full + 1
  end
end
return full
"""


# Each group's live channels, expired memberships dropped first (as channels_redis's group_send
# does). ARGV: the oldest join time kept, then the groups' keys in one string, a line each (a
# group's key holds no line break: channels' group names are ASCII letters, digits, `-_.`).
# Returns one string: a line per group, its channels separated by spaces (channel names hold
# neither). One command, one argument and one flat reply for any number of groups: a pipeline
# of two commands per group, a reply of an element per channel, or an argument per group (a
# thousand for a group message at the cap) cost more client CPU (redis-py packs and parses in
# Python) than the rest of a publish. The keys are not declared as KEYS: a layer shard is one
# Redis, never a cluster, so undeclared keys are served.
_READ_MEMBERS = """
local lines = {}
local i = 0
for key in string.gmatch(ARGV[2], '[^\\n]+') do
  i = i + 1
  redis.call('ZREMRANGEBYSCORE', key, 0, ARGV[1])
  lines[i] = table.concat(redis.call('ZRANGE', key, 0, -1), ' ')
end
return table.concat(lines, '\\n')
"""


@dataclass
class LayerMessage:
    """What goes to the groups: `body` to every channel; `per_user[user_id]` only to the channels
    of `user_groups[...]` that user's group (merged in by the consumer under the `per_user` key)."""

    body: dict[str, Any]
    groups: list[str] = field(default_factory=list)
    # user group name -> (user id, that user's part): the parts go to no other user's channel.
    user_parts: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


PER_USER_KEY = "per_user"


def send_layer_message(layer: Any, message: LayerMessage) -> None:
    """Sends `message` through `layer` (raises what the layer raises)."""
    sender = _redis_sender_for(layer)
    if sender is not None:
        sender.send(message)
    else:
        async_to_sync(_send_through_layer)(layer, message)


async def _send_through_layer(layer: Any, message: LayerMessage) -> None:
    for name in message.groups:
        await layer.group_send(name, message.body)
    for name, (user_id, part) in message.user_parts.items():
        await layer.group_send(name, {**message.body, PER_USER_KEY: {user_id: part}})


class RedisGroupSender:
    """channels_redis's `group_send` for many groups at once, synchronously (see the module)."""

    def __init__(self, layer: Any) -> None:
        import redis

        self.layer = layer
        self.clients = []
        for host in layer.hosts:
            options = dict(host)
            address = options.pop("address")
            # A dead Redis fails the publish quickly (logged; the write already committed).
            options.setdefault("socket_connect_timeout", 2.0)
            self.clients.append(
                redis.Redis(connection_pool=redis.ConnectionPool.from_url(address, **options))
            )
        self._push = [client.register_script(_PUSH_TO_INBOXES) for client in self.clients]
        self._read_members = [client.register_script(_READ_MEMBERS) for client in self.clients]

    def send(self, message: LayerMessage) -> None:
        layer = self.layer
        names = [*message.groups, *message.user_parts]
        channels_of = self._members(names)
        # inbox key -> the channels it serves (a dict: ordered, each once), the users whose parts
        # it needs
        inbox_channels: dict[str, dict[str, None]] = collections.defaultdict(dict)
        inbox_users: dict[str, dict[str, dict[str, Any]]] = collections.defaultdict(dict)
        inbox_capacity: dict[str, int] = {}
        for name, channels in channels_of.items():
            owner = message.user_parts.get(name)
            for channel in channels:
                key = layer.prefix + layer.non_local_name(channel)
                inbox_channels[key][channel] = None
                inbox_capacity.setdefault(key, layer.get_capacity(channel))
                if owner is not None:
                    inbox_users[key][owner[0]] = owner[1]
        by_shard: dict[int, list[str]] = collections.defaultdict(list)
        for key, served in inbox_channels.items():
            by_shard[layer.consistent_hash(layer.non_local_name(next(iter(served))))].append(key)
        now = time.time()
        for shard, keys in by_shard.items():
            payloads = []
            for key in keys:
                body = {**message.body, "__asgi_channel__": list(inbox_channels[key])}
                if inbox_users[key]:
                    body[PER_USER_KEY] = inbox_users[key]
                # The layer's own serializer: msgpack behind a random prefix.
                payloads.append(layer.serialize(body))
            full = self._push[shard](
                keys=keys,
                args=[*payloads, *(inbox_capacity[key] for key in keys), now, int(layer.expiry)],
            )
            if full:  # as channels_redis: those processes' sockets miss it (they /sync)
                logger.info("%s of %s process inboxes over capacity", full, len(keys))

    def _members(self, names: list[str]) -> dict[str, list[str]]:
        """Each group's live channels: one script per shard."""
        layer = self.layer
        by_shard: dict[int, list[str]] = collections.defaultdict(list)
        if len(self.clients) == 1:  # one shard: no hash per group (a thousand for a group message)
            by_shard[0] = list(names)
        else:
            for name in names:
                by_shard[layer.consistent_hash(name)].append(name)
        oldest = int(time.time()) - layer.group_expiry
        # channels_redis's `_group_key(name)`, without a call per group.
        group_prefix = f"{layer.prefix}:group:"
        assert layer._group_key("x") == f"{group_prefix}x".encode(), "channels_redis's group keys changed"
        members: dict[str, list[str]] = {}
        for shard, shard_names in by_shard.items():
            group_keys = "\n".join([group_prefix + name for name in shard_names]).encode("utf8")
            reply = self._read_members[shard](keys=[], args=[oldest, group_keys])
            for name, line in zip(shard_names, reply.decode("utf8").split("\n"), strict=True):
                members[name] = line.split()
        return members


_senders_lock = threading.Lock()
# The sender lives on the layer it writes for (channels keeps one layer per alias and process;
# tests that reset the layers get a new sender with the new layer).
_SENDER_ATTRIBUTE = "_messenger_sync_group_sender"


def _redis_sender_for(layer: Any) -> RedisGroupSender | None:
    """The layer's sender, or None when the layer is not one this module knows how to write for."""
    sender = getattr(layer, _SENDER_ATTRIBUTE, None)
    if sender is None:
        if not _speaks_channels_redis_format(layer):
            return None
        with _senders_lock:
            sender = getattr(layer, _SENDER_ATTRIBUTE, None)
            if sender is None:
                sender = RedisGroupSender(layer)
                setattr(layer, _SENDER_ATTRIBUTE, sender)
    return sender


def _speaks_channels_redis_format(layer: Any) -> bool:
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:  # pragma: no cover - channels_redis is a requirement
        return False
    return (
        isinstance(layer, RedisChannelLayer)
        # channels_redis's storage format: a subclass that sends otherwise is not ours to write for
        and type(layer).group_send is RedisChannelLayer.group_send
        and layer._serializer.crypter is None
        and all("address" in host for host in layer.hosts)
    )
