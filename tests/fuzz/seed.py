"""Seed a running server through its own API, so that the fuzzer has real ids (tests/fuzz/run.py).

Everything is created by HTTP calls, as a client would: users (registered), an accepted contact,
a pending request, prekeys, a group with a member, 1:1 and group messages, media, relay
envelopes, an invitation (its token read from the email the server wrote to EMAIL_FILE_PATH).
"""

from __future__ import annotations

import base64
import email
import re
import secrets
import uuid
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import requests

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Client:
    def __init__(self, base: str, access: str | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        if access:
            self.session.headers["Authorization"] = f"Bearer {access}"

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201, 204), **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base}/api/v1{path}", timeout=30, **kwargs)
        if response.status_code not in expect:
            raise RuntimeError(f"seed: {method} {path} -> {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None


def register(base: str, name: str) -> dict[str, Any]:
    """A new user through POST /auth/register: its ids, credentials and first tokens."""
    password = f"Fuzz-{secrets.token_urlsafe(12)}"
    username = f"{name}_{secrets.token_hex(4)}"
    body = Client(base).call(
        "POST",
        "/auth/register",
        json={"email": f"{username}@example.com", "username": username, "password": password},
    )
    return {
        "id": body["user"]["id"],
        "username": username,
        "email": f"{username}@example.com",
        "password": password,
        "access": body["access"],
        "refresh": body["refresh"],
    }


def prekeys(client: Client, *, batches: int) -> None:
    for batch in range(batches):  # at most 200 one-time prekeys per upload
        client.call(
            "PUT",
            "/keys",
            json={
                "identity_key": b64(secrets.token_bytes(32)),
                "signed_prekey": {
                    "key_id": 1,
                    "public_key": b64(secrets.token_bytes(32)),
                    "signature": b64(secrets.token_bytes(64)),
                },
                "one_time_prekeys": [
                    {"key_id": batch * 200 + i, "public_key": b64(secrets.token_bytes(32))}
                    for i in range(200)
                ],
            },
        )


def send_message(client: Client, recipient_id: str) -> str:
    return client.call(
        "POST",
        "/messages/send",
        json={
            "recipient_id": recipient_id,
            "encrypted_content": b64(secrets.token_bytes(24)),
            "encrypted_session_key": b64(secrets.token_bytes(16)),
            "crypto_version": "1",
            "encryption_algorithm": "x3dh",
        },
    )["id"]


def send_group_message(client: Client, group_id: str, member_ids: list[str]) -> str:
    return client.call(
        "POST",
        f"/groups/{group_id}/messages",
        json={
            "encrypted_content": b64(secrets.token_bytes(24)),
            "encrypted_session_keys": {member: b64(secrets.token_bytes(16)) for member in member_ids},
            "crypto_version": "1",
            "encryption_algorithm": "sender-keys",
        },
    )["id"]


def upload_media(client: Client) -> str:
    return client.call(
        "POST",
        "/media/upload",
        files={"file": ("p.png", PNG, "image/png"), "thumbnail": ("t.png", PNG, "image/png")},
    )["id"]


def queue_envelope(client: Client, recipient_id: str) -> str:
    return client.call(
        "POST", "/relay/queue", json={"recipient_id": recipient_id, "payload": b64(secrets.token_bytes(32))}
    )["id"]


def make_contacts(a: Client, b: Client, b_id: str) -> str:
    """a asks b, b accepts: the contact's id."""
    contact = a.call("POST", "/contacts", json={"user_id": b_id})
    b.call("PATCH", f"/contacts/{contact['id']}", json={"status": "accepted"})
    return contact["id"]


def emails(mail_dir: Path) -> list[str]:
    """The decoded text of every email the server wrote (newest file first). The file backend
    writes each message MIME-encoded (quoted-printable), separated by a line of dashes."""
    texts = []
    for path in sorted(mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
        for chunk in reversed(path.read_text(errors="replace").split("-" * 79)):
            message = email.message_from_string(chunk.strip())
            parts = [
                cast(bytes | None, part.get_payload(decode=True)) or b""  # decoded: bytes, or None
                for part in message.walk()
                if not part.is_multipart()
            ]
            texts.append(
                "\n".join(str(message[h]) for h in ("To",))
                + "\n"
                + b"\n".join(parts).decode(errors="replace")
            )
    return texts


def latest_token(mail_dir: Path, pattern: str, *, to: str | None = None) -> str | None:
    """The first match of `pattern` in the newest email (sent `to` that address, if given)."""
    for text in emails(mail_dir):
        match = re.search(pattern, text)
        if match and (to is None or to in text):
            return unquote(match.group(1))
    return None


def cursor_of(page: dict[str, Any]) -> str | None:
    """The `cursor` of a page's `next` link."""
    return parse_qs(urlsplit(page["next"]).query).get("cursor", [None])[0] if page.get("next") else None


def seed(base: str, mail_dir: Path) -> dict[str, Any]:
    users = {name: register(base, name) for name in ("alice", "bob", "carol", "dave", "erin")}
    alice, bob, dave = (users[n] for n in ("alice", "bob", "dave"))
    clients = {name: Client(base, user["access"]) for name, user in users.items()}
    a, b, c = clients["alice"], clients["bob"], clients["carol"]

    accepted = make_contacts(a, b, bob["id"])
    make_contacts(a, clients["erin"], users["erin"]["id"])
    pending_incoming = c.call("POST", "/contacts", json={"user_id": alice["id"]})["id"]

    prekeys(a, batches=1)
    prekeys(b, batches=5)  # the fuzzer claims bob's bundle over and over

    group = a.call("POST", "/groups", json={"name": "fuzz", "member_ids": [bob["id"]]})["id"]
    admin_group = a.call("POST", "/groups", json={"name": "fuzz-admin", "member_ids": [bob["id"]]})["id"]
    spares = [register(base, f"spare{i}") for i in range(4)]
    group_messages = [send_group_message(a, group, [alice["id"], bob["id"]]) for _ in range(3)]
    sent = [send_message(a, bob["id"]) for _ in range(3)]
    received = [send_message(b, alice["id"]) for _ in range(3)]
    media = [upload_media(a) for _ in range(2)]
    download_url = a.call("GET", f"/media/{media[0]}")["download_url"]
    sig = parse_qs(urlsplit(download_url).query).get("sig", [None])[0]
    envelopes = [queue_envelope(b, alice["id"]) for _ in range(5)]

    # Invitations mail strangers, so only a verified account may send them: alice verifies first,
    # with the token from the email the server wrote her.
    verify = latest_token(mail_dir, r"verify-email\?token=([^\s\"&<]+)", to=alice["email"])
    a.call("POST", "/auth/verify-email", json={"token": verify or "missing"})
    a.call("POST", "/invitations/send", json={"email": f"invitee-{secrets.token_hex(4)}@example.com"})
    invitation = latest_token(mail_dir, r"invitation=([A-Za-z0-9_\-]+)")
    send_message(a, users["erin"]["id"])  # a second conversation: the list has a next page
    cursors = {
        "/messages/conversation/{user_id}": cursor_of(
            a.call("GET", f"/messages/conversation/{bob['id']}?limit=1")
        ),
        "/messages/conversations": cursor_of(a.call("GET", "/messages/conversations?limit=1")),
        "/relay/pending/{user_id}": cursor_of(a.call("GET", f"/relay/pending/{alice['id']}?limit=1")),
        "/users/search": cursor_of(a.call("GET", "/users/search?q=spare&limit=1")),
    }

    return {
        "base": base,
        "mail_dir": str(mail_dir),
        "users": users,
        "caller": "alice",
        "contacts": {"accepted": accepted, "pending_incoming": pending_incoming},
        "group": group,
        "admin_group": admin_group,
        "spares": spares,
        "group_messages": group_messages,
        "messages": {"sent": sent, "received": received},
        "media": media,
        "envelopes": envelopes,
        "media_download_sig": sig,
        "invitation_token": invitation,
        "cursors": cursors,
        "sync_token": a.call("GET", "/sync")["next_since"],
        "strangers": [dave["id"]],
        "unknown": str(uuid.uuid4()),
    }
