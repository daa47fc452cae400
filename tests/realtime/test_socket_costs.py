"""What an open socket costs its server process (issue 15): no Redis connection of its own, no
task waking on its own while idle (one heartbeat for all of a process's sockets), no relay read
while nothing is in flight, and no permessage-deflate (memory per socket) wherever uvicorn runs.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings as django_settings

from presence.store import get_store
from relay import store as relay_store
from tests.realtime.test_gateway import authenticated, socket_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def redis_connections_of_this_process() -> int:
    """Established TCP connections from this process to REDIS_URL's port (/proc: the kernel's
    own count, whatever client library opened them)."""
    from bench.realtime_cpu import redis_connections

    return redis_connections(urlparse(django_settings.REDIS_URL).port or 6379)


@pytest.mark.skipif(not django_settings.REDIS_URL, reason="Redis connections")
async def test_sockets_hold_no_redis_connection_of_their_own(make_user):
    from asgiref.sync import sync_to_async

    from accounts.tokens import issue_token_pair

    def access_token() -> str:  # as a login mints it (30 logins would meet the login throttle)
        return issue_token_pair(user_id=make_user().pk).access

    tokens = [await sync_to_async(access_token)() for _ in range(31)]
    first, _ = await authenticated(tokens[0])  # the process's own connections: cache, layer, ...
    await asyncio.sleep(0.2)
    before = redis_connections_of_this_process()
    sockets = [(await authenticated(token))[0] for token in tokens[1:]]
    await asyncio.sleep(0.2)
    after = redis_connections_of_this_process()
    for socket in [first, *sockets]:
        await socket.disconnect()
    # Was one per socket (the cache read of each socket's authentication kept one open).
    assert after - before <= 3, (before, after)


async def test_one_heartbeat_keeps_every_socket_online_and_idle_sockets_read_no_relay(
    make_user, settings, monkeypatch
):
    from asgiref.sync import sync_to_async

    settings.REALTIME_PRESENCE_HEARTBEAT_SECONDS = 0.2
    settings.REALTIME_PRESENCE_TTL_SECONDS = 0.7
    settings.REALTIME_RELAY_REPUSH_SECONDS = 0.2
    store = get_store()
    beats: list[int] = []
    real_touch_many = store.touch_many

    def counted_touch_many(**kwargs):
        beats.append(len(kwargs["connections"]))
        return real_touch_many(**kwargs)

    monkeypatch.setattr(store, "touch_many", counted_touch_many)
    relay = relay_store.get_store()
    reads: list[object] = []
    real_pending = relay.pending

    def counted_pending(**kwargs):
        reads.append(kwargs["recipient_id"])
        return real_pending(**kwargs)

    monkeypatch.setattr(relay, "pending", counted_pending)

    users = [await sync_to_async(make_user)() for _ in range(5)]
    sockets = [await socket_for(user) for user in users]
    await asyncio.sleep(1.5)  # two TTLs: without the heartbeat, every user would have expired
    online = await sync_to_async(store.online_among)(user_ids=[user.pk for user in users])
    assert online == {user.pk for user in users}
    # About one store call per beat for all five, not five calls per beat.
    assert 4 <= len(beats) <= 9 and max(beats) == 5, beats
    # One read each on connect; none since (nothing in flight, though the re-push period passed).
    assert sorted(map(str, reads)) == sorted(str(user.pk) for user in users)
    for socket in sockets:
        await socket.disconnect()


def test_every_uvicorn_command_turns_permessage_deflate_off():
    """Compression costs each socket a compressor and a decompressor (zlib's windows): off
    wherever the project starts uvicorn (docs/ARCHITECTURE.md, "Sockets")."""
    from bench.run import uvicorn_command
    from tests.servers import server_command

    for command in (uvicorn_command(0), server_command("uvicorn", 0)):
        flag = command.index("--ws-per-message-deflate")
        assert command[flag + 1] == "false", command
    for place in ("Makefile", "Procfile", "deploy/k8s/base/sockets.yaml"):
        lines = [
            line
            for line in (ROOT / place).read_text().splitlines()
            if "uvicorn messenger.asgi" in line or '"uvicorn", "messenger.asgi' in line
        ]
        assert lines, place
        for line in lines:
            # the Makefile continues the command on the next line
            text = (ROOT / place).read_text()
            start = text.index(line)
            command = text[start : text.index("lifespan", start)]
            assert re.search(r'--ws-per-message-deflate"?,? "?false', command), (place, command)
