"""The browser-test stack itself (tests/browser/conftest.py): a Chromium page on the real-mode
server reaches REST, static files and /ws/ (with a ticket), the worker sends the verification
email into a file the test reads, and its link points at the server and verifies the account."""

from __future__ import annotations

import uuid

import pytest

from tests.accounts.helpers import STRONG_PASSWORD

pytestmark = pytest.mark.integration

REGISTER_AND_OPEN_SOCKET = """
async ({email, username, password}) => {
  const post = async (path, body, token) => {
    const headers = {"Content-Type": "application/json"};
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(path, {method: "POST", headers, body: JSON.stringify(body)});
    return {status: response.status, body: await response.json()};
  };
  const registered = await post("/api/v1/auth/register", {email, username, password});
  const ticket = await post("/api/v1/auth/ws-ticket", {}, registered.body.access);
  const hello = await new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://${location.host}/ws/?ticket=${ticket.body.ticket}`);
    socket.onmessage = (event) => { socket.close(); resolve(JSON.parse(event.data)); };
    socket.onerror = () => reject(new Error("socket error"));
  });
  return {status: registered.status, userId: registered.body.user.id, hello};
}
"""

VERIFY_ON_THE_PAGE = """
async () => {
  const token = new URLSearchParams(location.search).get("token");
  const response = await fetch("/api/v1/auth/verify-email", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({token}),
  });
  return {status: response.status, body: await response.json()};
}
"""


def test_a_page_registers_opens_a_socket_and_follows_the_emailed_link(messenger_app, open_device, screenshot):
    page = open_device("alice", path="/healthz")
    assert "ok" in page.content().lower()

    username = f"alice_{uuid.uuid4().hex[:8]}"
    email = f"{username}@example.com"
    outcome = page.evaluate(
        REGISTER_AND_OPEN_SOCKET, {"email": email, "username": username, "password": STRONG_PASSWORD}
    )
    assert outcome["status"] == 201
    assert outcome["hello"]["type"] == "hello"
    assert outcome["hello"]["data"]["user_id"] == outcome["userId"]

    # Static files are collected and served with DEBUG off.
    assert page.request.get("/static/admin/css/base.css").status == 200

    # The worker sent the email; its link lands on this server.
    link = messenger_app.wait_for_link(email, "/verify-email")
    assert link.startswith(messenger_app.url + "/verify-email?token=")
    page.goto(link)
    verified = page.evaluate(VERIFY_ON_THE_PAGE)
    assert verified["status"] == 200, verified
    assert verified["body"]["is_verified"] is True
    shot = screenshot(page, "infra-verify-email")
    assert shot.stat().st_size > 0


def test_devices_are_separate_contexts(open_device):
    alice = open_device("alice", path="/healthz")
    bob = open_device("bob", path="/healthz", viewport={"width": 390, "height": 844})
    alice.evaluate("() => localStorage.setItem('who', 'alice')")
    assert bob.evaluate("() => localStorage.getItem('who')") is None
    assert bob.viewport_size == {"width": 390, "height": 844}
