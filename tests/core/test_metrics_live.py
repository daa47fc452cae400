"""/metrics of a real server process (uvicorn, production settings, PostgreSQL and Redis) in the
multiprocess mode deploy/ runs it in: a short run of N messages sent over REST to a user whose
socket is open moves the message counter by exactly N, and the delivery-latency histogram gains
exactly N observations. And a SIGTERM (a pod being stopped) closes open sockets with 1012
("service restart"), which tells clients to reconnect (to another pod).

Needs PostgreSQL and Redis like tests/realtime/test_cross_process.py, whose helpers it uses.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from tests.messaging.helpers import send_body
from tests.s3 import free_port, stop_process
from tests.servers import (
    BASE_DIR,
    START_TIMEOUT_SECONDS,
    Recipient,
    Server,
    delete_keys,
    open_socket,
    register,
    rest_post,
    scrape,
    server_command,
    server_env,
    skip_unless_postgres_and_redis,
    value,
    wait_until_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MESSAGES = 20


@pytest.fixture
def server(transactional_db, django_db_blocker, tmp_path_factory) -> Iterator[Server]:
    skip_unless_postgres_and_redis()
    tmp = tmp_path_factory.mktemp("metrics")
    prefix = f"test-metrics-{uuid.uuid4().hex[:12]}"
    multiproc_dir = tmp / "prometheus"
    multiproc_dir.mkdir()
    with django_db_blocker.unblock():
        env = server_env(prefix, tmp)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc_dir)
    env["METRICS_ALLOWED"] = "loopback"
    port = free_port()
    log_path = tmp / "uvicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command("uvicorn", port), cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    started = Server(kind="uvicorn", port=port, process=process, log_path=log_path)
    try:
        wait_until_ready(started, time.monotonic() + START_TIMEOUT_SECONDS)
        yield started
    finally:
        stop_process(process)
        delete_keys(prefix)


async def test_counters_move_by_exactly_the_messages_sent(server):
    ann = await register(server, "ann")
    bob = await register(server, "bob")
    ann_socket = await open_socket(server, ann)
    try:
        before = await scrape(server)
        assert value(before, "messenger_websockets_open") == 1
        ids = set()
        for _ in range(MESSAGES):
            sent = await rest_post(server, bob, "/api/v1/messages/send", send_body(Recipient(ann)))
            ids.add(sent["id"])
        for message_id in ids:
            await ann_socket.next_frame("message.new", id=message_id)

        # The consumer records right after its send: poll briefly for the last observation.
        delivered = "messenger_delivery_latency_seconds_count"
        for _ in range(50):
            after = await scrape(server)
            moved = value(after, delivered, event="message.new") - value(
                before, delivered, event="message.new"
            )
            if moved >= MESSAGES:
                break
            await asyncio.sleep(0.1)
    finally:
        await ann_socket.close()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("messenger_messages_sent_total", kind="direct") == MESSAGES
    assert delta("messenger_message_fanout_recipients_count", kind="direct") == MESSAGES
    assert delta("messenger_delivery_latency_seconds_count", event="message.new") == MESSAGES
    assert delta("messenger_delivery_latency_seconds_bucket", event="message.new", le="+Inf") == MESSAGES
    assert 0 < delta("messenger_delivery_latency_seconds_sum", event="message.new") < MESSAGES * 1.0
    # django-prometheus's request and database series are there too, merged from the files.
    assert any(name == "django_http_requests_total_by_method_total" for name, _ in after)
    assert any(name.startswith("django_db_execute_total") for name, _ in after)


async def test_sigterm_closes_sockets_with_service_restart(server):
    ann = await register(server, "ann")
    socket = await open_socket(server, ann)
    server.process.send_signal(signal.SIGTERM)
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(10):
            while True:
                await socket.connection.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM, and its log says so.
    assert await asyncio.to_thread(server.process.wait, 10) == -signal.SIGTERM
    assert "Finished server process" in server.log()
