"""Two users, one encrypted message, seen arriving on a WebSocket. Runs against `make run`:

    .venv/bin/python examples/quickstart.py                     # http://127.0.0.1:8000
    .venv/bin/python examples/quickstart.py --url http://127.0.0.1:8765

What a client does, in order: register (with a public key), become contacts, take a WebSocket
ticket, open /ws/, send a message encrypted for the recipient, receive it on the recipient's
socket and decrypt it. The server only ever sees ciphertext.

The cryptography is real but minimal (no prekeys, no ratchet, one static key per user):
- each user has an X25519 key pair; the public half is the `public_key` the API stores;
- a message is encrypted once with a fresh random key (ChaCha20-Poly1305): `encrypted_content`;
- that key is wrapped for the recipient (`encrypted_session_key`) and for the sender's own
  devices (`sender_encrypted_session_key`) with a key derived from X25519(sender, reader) by
  HKDF-SHA256, as NaCl's box does with its own primitives.

Needs httpx, websockets and cryptography (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import sys
import uuid

import httpx
import websockets
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALGORITHM = "x25519-hkdf-sha256+chacha20poly1305"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def seal(key: bytes, plaintext: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, None)


def unseal(key: bytes, sealed: bytes) -> bytes:
    return ChaCha20Poly1305(key).decrypt(sealed[:12], sealed[12:], None)


def pair_key(mine: X25519PrivateKey, theirs_public: bytes) -> bytes:
    """The key two users share: X25519 of one's private key and the other's public key."""
    shared = mine.exchange(X25519PublicKey.from_public_bytes(theirs_public))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"messenger-quickstart").derive(shared)


def encrypt_message(text: str, sender: X25519PrivateKey, recipient_public: bytes) -> dict:
    """The `message.send` body's cryptographic fields."""
    message_key = ChaCha20Poly1305.generate_key()
    return {
        "encrypted_content": b64(seal(message_key, text.encode())),
        "encrypted_session_key": b64(seal(pair_key(sender, recipient_public), message_key)),
        "sender_encrypted_session_key": b64(seal(pair_key(sender, public_bytes(sender)), message_key)),
        "crypto_version": "1",
        "encryption_algorithm": ALGORITHM,
    }


def decrypt_message(message: dict, recipient: X25519PrivateKey, sender_public: bytes) -> str:
    message_key = unseal(pair_key(recipient, sender_public), unb64(message["encrypted_session_key"]))
    return unseal(message_key, unb64(message["encrypted_content"])).decode()


class User:
    """One registered user: their key pair, tokens and an HTTP client."""

    def __init__(self, base_url: str, username: str) -> None:
        self.base_url = base_url
        self.username = username
        self.key = X25519PrivateKey.generate()
        self.http = httpx.Client(base_url=f"{base_url}/api/v1", timeout=30)
        self.id = ""

    def register(self) -> None:
        body = {
            "email": f"{self.username}@example.com",
            "username": self.username,
            "password": secrets.token_urlsafe(16),
            "public_key": b64(public_bytes(self.key)),
        }
        answer = check(self.http.post("/auth/register", json=body))
        self.id = answer["user"]["id"]
        self.http.headers["Authorization"] = f"Bearer {answer['access']}"

    def public_key_of(self, user_id: str) -> bytes:
        return unb64(check(self.http.get(f"/users/{user_id}"))["public_key"])

    def websocket_url(self) -> str:
        ticket = check(self.http.post("/auth/ws-ticket"))["ticket"]
        return f"{self.base_url.replace('http', 'ws', 1)}/ws/?ticket={ticket}"


def check(response: httpx.Response) -> dict:
    if response.is_error:
        sys.exit(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response.json()


async def receive(socket, wanted: str, timeout: float = 10.0) -> dict:
    """The next frame of type `wanted` (others, like presence, are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == wanted:
                return frame["data"]
            if frame["type"] == "error":
                sys.exit(f"error frame: {frame['data']}")


async def main(base_url: str, text: str) -> None:
    suffix = secrets.token_hex(3)
    alice, bob = User(base_url, f"alice_{suffix}"), User(base_url, f"bob_{suffix}")
    alice.register()
    bob.register()
    print(f"registered {alice.username} ({alice.id}) and {bob.username} ({bob.id})")

    # A contact request, and the other side asking back: both become accepted contacts.
    check(alice.http.post("/contacts", json={"user_id": bob.id}))
    check(bob.http.post("/contacts", json={"user_id": alice.id}))
    print("they are contacts")

    async with (
        websockets.connect(bob.websocket_url()) as bob_socket,
        websockets.connect(alice.websocket_url()) as alice_socket,
    ):
        await receive(bob_socket, "hello")
        await receive(alice_socket, "hello")
        print("both sockets are open (hello received)")

        body = {
            "recipient_id": bob.id,
            "client_message_id": str(uuid.uuid4()),
            **encrypt_message(text, alice.key, alice.public_key_of(bob.id)),
        }
        await alice_socket.send(json.dumps({"type": "message.send", "data": body}))
        sent = await receive(alice_socket, "message.sent")
        print(f"{alice.username} sent message {sent['id']} (the server stored only ciphertext)")

        arrived = await receive(bob_socket, "message.new")
        plaintext = decrypt_message(arrived, bob.key, bob.public_key_of(arrived["sender_id"]))
        print(f"{bob.username} received {arrived['id']} and decrypted it: {plaintext!r}")
        if plaintext != text:
            sys.exit("decryption gave another text")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MESSENGER_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--text", default="Hello, Bob! Only you can read this.")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url.rstrip("/"), arguments.text))
