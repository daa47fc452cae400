"""HTTP under the ASGI server runs Django's WSGI handler on a pool of threads
(core.threaded_http): requests run at once, bodies stream both ways, and through the
real application a REST send still reaches a socket on the same server (the events go out on
the server's loop, as under Django's ASGI handler)."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import httpx
import pytest
from asgiref.sync import sync_to_async

from core.threaded_http import SEND_PIECE_BYTES, ThreadPoolWSGIApp
from messenger.asgi import application
from tests.accounts.helpers import session_for
from tests.messaging.helpers import send_body
from tests.sockets import Socket


def asgi_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_requests_run_at_once_on_the_threads():
    """Four requests that each wait for the other three: they pass only if they run together
    (Django's ASGI handler ran one synchronous view at a time per process)."""
    everyone_in = threading.Barrier(4, timeout=5)

    def app(environ, start_response):
        everyone_in.wait()  # BrokenBarrierError (a 500 below) unless four threads are here at once
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [threading.current_thread().name.encode()]

    async with asgi_client(ThreadPoolWSGIApp(app, threads=4)) as client:
        responses = await asyncio.gather(*(client.get(f"/{n}") for n in range(4)))
    assert [response.status_code for response in responses] == [200] * 4
    assert len({response.text for response in responses}) == 4  # four threads


async def test_the_body_is_read_as_the_app_reads_it_and_the_response_streams_back():
    seen: dict = {}
    closed = threading.Event()

    class Pieces(list):
        def close(self):
            closed.set()

    def app(environ, start_response):
        body = environ["wsgi.input"]
        first_line = body.readline()
        rest = body.read()
        seen.update(
            first_line=first_line,
            digest=hashlib.sha256(first_line + rest).hexdigest(),
            length=environ["CONTENT_LENGTH"],
            query=environ["QUERY_STRING"],
            header=environ["HTTP_X_THING"],
        )
        start_response("201 Created", [("Content-Type", "application/octet-stream")])
        return Pieces([b"x" * 1000] * (3 * SEND_PIECE_BYTES // 1000))

    payload = b"first line\n" + bytes(range(256)) * 4096

    async def pieces():
        for start in range(0, len(payload), 10_000):
            yield payload[start : start + 10_000]

    async with asgi_client(ThreadPoolWSGIApp(app, threads=2)) as client:
        response = await client.post(
            "/upload?a=1&b=%20",
            content=pieces(),
            headers={"X-Thing": "one", "Content-Length": str(len(payload))},
        )
    assert response.status_code == 201
    assert response.content == b"x" * (3 * SEND_PIECE_BYTES // 1000 * 1000)
    assert seen == {
        "first_line": b"first line\n",
        "digest": hashlib.sha256(payload).hexdigest(),
        "length": str(len(payload)),
        "query": "a=1&b=%20",
        "header": "one",
    }
    assert closed.is_set()  # Django's request_finished runs on close()


async def test_a_client_gone_mid_response_stops_the_iteration_and_the_response_is_closed():
    """As a server does when the peer resets: uvicorn's send raises (an OSError)."""
    produced: list[int] = []
    closed = threading.Event()

    class Endless:
        def __iter__(self):
            for n in range(1000):
                produced.append(n)
                yield b"y" * SEND_PIECE_BYTES

        def close(self):
            closed.set()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Endless()

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if len(sent) == 3:
            raise ConnectionResetError("the client is gone")
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    await ThreadPoolWSGIApp(app, threads=1)(scope, receive, send)
    assert [message["type"] for message in sent] == ["http.response.start"] + ["http.response.body"] * 2
    assert closed.is_set()
    assert len(produced) < 10


@pytest.mark.django_db(transaction=True)
async def test_a_rest_send_through_the_threads_reaches_the_recipients_socket(make_user):
    sender, recipient = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    session = await sync_to_async(session_for)(recipient)
    socket = Socket(application, "/ws/")
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "auth", "data": {"token": session["access"]}})
    assert (await socket.receive_json_from(timeout=3))["type"] == "hello"
    token = (await sync_to_async(session_for)(sender))["access"]
    async with asgi_client(application) as client:
        response = await client.post(
            "/api/v1/messages/send",
            json=send_body(recipient),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.content
    while (frame := await socket.receive_json_from(timeout=3))["type"] != "message.new":
        pass
    assert frame["data"]["id"] == response.json()["id"]
    await socket.disconnect()
