"""No query string in uvicorn's own log lines (issue 19): started as `make run` (the Procfile's
web line) and as deploy/ (k8s' sockets container) start it, a search term in a REST query string
and a socket's ticket never reach the log, and neither does any other query string.

uvicorn logs each request (uvicorn.access) and each WebSocket handshake (uvicorn.error, which
`--no-access-log` does not silence) with the path and its query string; the app's LOGGING keeps
the path alone (core.logging.DropQueryStrings). The server runs on its own SQLite
database (tests/media/server.py), so this runs in both modes.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import uuid

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect

from tests.media.server import BASE_DIR, app_server, server_command

pytestmark = pytest.mark.integration


def make_run_flags() -> list[str]:
    """The uvicorn arguments of the Procfile's web line (`make run` with a broker; without one the
    Makefile passes the same), host and port left to the test."""
    web = next(line for line in (BASE_DIR / "Procfile").read_text().splitlines() if line.startswith("web:"))
    words = shlex.split(web.split(":", 1)[1])
    return words[words.index("messenger.asgi:application") + 1 :]


def deploy_flags() -> list[str]:
    manifests = yaml.safe_load_all((BASE_DIR / "deploy" / "k8s" / "base" / "sockets.yaml").read_text())
    deployment = next(m for m in manifests if m and m["kind"] == "Deployment")
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    return command[command.index("messenger.asgi:application") + 1 :]


def without_host_port_and_workers(flags: list[str]) -> list[str]:
    kept, skip = [], False
    for flag in flags:
        if skip:
            skip = False
        elif flag in ("--host", "--port", "--workers"):  # the test runs one process of its own
            skip = True
        else:
            kept.append(flag)
    return kept


@pytest.fixture(params=["make-run", "deploy"])
def uvicorn_as_run(request, tmp_path, monkeypatch):
    flags = without_host_port_and_workers(make_run_flags() if request.param == "make-run" else deploy_flags())
    # uvicorn's flags indeed (a renamed line would test nothing), none left for the shell to fill.
    assert "--lifespan" in flags and "$" not in " ".join(flags), flags

    def command(kind: str, port: int) -> list[str]:
        return [*server_command(kind, port), *flags]

    monkeypatch.setattr("tests.media.server.server_command", command)
    with app_server("uvicorn", tmp_path, extra_env={"LOG_LEVEL": "INFO"}) as server:
        yield server


async def test_no_query_string_reaches_the_log(uvicorn_as_run):
    server = uvicorn_as_run
    needle = f"needle-{uuid.uuid4().hex}"
    auth = {"Authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as client:
        searched = await client.get(f"/api/v1/users/search?q={needle}", headers=auth)
        assert searched.status_code == 200, searched.text
        ticket = (await client.post("/api/v1/auth/ws-ticket", headers=auth)).json()["ticket"]
    ws_url = server.url.replace("http://", "ws://")
    async with connect(
        f"{ws_url}/ws/?ticket={ticket}&device={needle}x", proxy=None, open_timeout=10
    ) as socket:
        hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert hello["type"] == "hello"
    await asyncio.sleep(0.5)  # the lines are written as the answers go out

    log = server.log_path.read_text(errors="replace")
    # Each request was logged (by path), and nothing of its query string was.
    assert '"GET /api/v1/users/search ' in log and '"WebSocket /ws/" [accepted]' in log, log
    assert needle not in log and ticket not in log, log
    assert not re.search(r"/(search|ws/)\?", log), log
