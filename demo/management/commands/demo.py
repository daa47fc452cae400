"""`manage.py demo` (`make demo`): users with keys, contacts, a conversation, a group and an
attachment, so that the admin, the API docs and a client have something to show.

Idempotent: every object is looked up first (users by username, the group by name and owner,
messages by their client_message_id), so a second run finds everything and changes nothing.

Everything goes through the apps' services, as the API would: the stream positions, media
grants, conversations and events are what a real client would have produced. The messages are
really encrypted, with examples/quickstart.py's scheme, for keys derived from each username
(DEMO keys: anyone can derive them; they exist so that a client can decrypt the demo data).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from accounts.services import keys_upload, user_mark_verified
from contacts.services import contact_request
from groups.models import ChatGroup, GroupMessage
from groups.services import group_create, group_message_send
from media.services import media_upload
from messaging.models import Message
from messaging.services import message_send

PASSWORD = "messenger-demo"  # noqa: S105 (printed on purpose: demo logins on a development database)
ADMIN = "demo_admin"
PEOPLE = [("demo_alice", "Alice Demo"), ("demo_bob", "Bob Demo"), ("demo_carol", "Carol Demo")]
GROUP_NAME = "Demo group"
ALGORITHM = "x25519-hkdf-sha256+chacha20poly1305"  # examples/quickstart.py's
RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def demo_key(username: str, purpose: str) -> bytes:
    """32 bytes derived from the username: the same keys on every run (and for every reader)."""
    return hashlib.sha256(f"messenger-demo:{purpose}:{username}".encode()).digest()


def encryption_key(username: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(demo_key(username, "x25519"))


def public_key(username: str) -> bytes:
    return encryption_key(username).public_key().public_bytes(*RAW)


def seal(key: bytes, plaintext: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, None)


def wrap_for(sender: str, reader: str, message_key: bytes) -> bytes:
    shared = encryption_key(sender).exchange(X25519PublicKey.from_public_bytes(public_key(reader)))
    pair = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"messenger-quickstart").derive(shared)
    return seal(pair, message_key)


def message_id(*parts: str) -> uuid.UUID:
    """A stable client_message_id per demo message: the idempotency key of a second run."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "messenger-demo:" + ":".join(parts))


def demo_image() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 400), (37, 99, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 600, 360), outline=(255, 255, 255), width=8)
    draw.text((70, 70), "Messenger demo attachment", fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Create demo users, contacts, a conversation, a group and an attachment (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run with DEBUG off too (the demo logins have a printed password).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off: this looks like a production database, and the demo users' password "
                "is public. Run with DEBUG=1 (make demo does), or --force."
            )
        # Tasks run in this process in the embedded mode; their one-line reports are not the output.
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
        users = {username: self.user(username, full_name) for username, full_name in PEOPLE}
        self.admin()
        alice, bob, carol = (users[name] for name, _ in PEOPLE)

        # alice and bob are contacts (asked both ways: accepted); carol has asked alice (pending).
        contact_request(requester_id=alice.pk, addressee_id=bob.pk)
        contact_request(requester_id=bob.pk, addressee_id=alice.pk)
        contact_request(requester_id=carol.pk, addressee_id=alice.pk)
        contact_request(requester_id=bob.pk, addressee_id=carol.pk)
        contact_request(requester_id=carol.pk, addressee_id=bob.pk)

        self.direct_messages(alice, bob)
        group = self.group(alice, bob, carol)

        self.stdout.write(self.style.SUCCESS(f"Demo data is ready. Logins (password for all: {PASSWORD}):"))
        self.stdout.write(f"  admin site /admin/:  {ADMIN} (superuser)")
        for user in (alice, bob, carol):
            self.stdout.write(f"  API and clients:     {user.username} <{user.email}>  id {user.pk}")
        self.stdout.write(f"  group:               {group.name}  id {group.pk}")
        self.stdout.write(
            f'  e.g. curl -s -X POST {settings.FRONTEND_URL}/api/v1/auth/login -H "Content-Type: application/json" '
            f'-d \'{{"login": "{alice.username}", "password": "{PASSWORD}"}}\''
        )

    def user(self, username: str, full_name: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is not None:
            return user
        with transaction.atomic():
            user = User.objects.create_user(
                email=f"{username.removeprefix('demo_')}@demo.example",
                username=username,
                password=PASSWORD,
                full_name=full_name,
                bio="A demo account (manage.py demo).",
                public_key=base64.b64encode(public_key(username)).decode(),
            )
            identity = Ed25519PrivateKey.from_private_bytes(demo_key(username, "identity"))
            signed_prekey = X25519PrivateKey.from_private_bytes(demo_key(username, "signed-prekey"))
            signed_prekey_public = signed_prekey.public_key().public_bytes(*RAW)
            keys_upload(
                user_id=user.pk,
                identity_key=identity.public_key().public_bytes(*RAW),
                signed_prekey={
                    "key_id": 1,
                    "public_key": signed_prekey_public,
                    "signature": identity.sign(signed_prekey_public),
                },
                one_time_prekeys=[
                    {
                        "key_id": key_id,
                        "public_key": X25519PrivateKey.from_private_bytes(
                            demo_key(username, f"one-time-{key_id}")
                        )
                        .public_key()
                        .public_bytes(*RAW),
                    }
                    for key_id in range(1, 11)
                ],
            )
            user_mark_verified(user_id=user.pk)
        return User.objects.get(pk=user.pk)

    def admin(self) -> User:
        admin = User.objects.filter(username=ADMIN).first()
        if admin is None:
            admin = User.objects.create_superuser(
                email="admin@demo.example", username=ADMIN, password=PASSWORD, full_name="Demo Admin"
            )
        return admin

    def send(
        self, sender: User, recipient: User, text: str, attachment_ids: tuple[uuid.UUID, ...] = ()
    ) -> None:
        message_key = ChaCha20Poly1305.generate_key()
        message_send(
            sender_id=sender.pk,
            recipient_id=recipient.pk,
            encrypted_content=seal(message_key, text.encode()),
            encrypted_session_key=wrap_for(sender.username, recipient.username, message_key),
            sender_encrypted_session_key=wrap_for(sender.username, sender.username, message_key),
            crypto_version="1",
            encryption_algorithm=ALGORITHM,
            client_message_id=message_id(sender.username, recipient.username, text),
            attachment_ids=list(attachment_ids),
        )

    def direct_messages(self, alice: User, bob: User) -> None:
        """A short conversation; its last message carries an image."""
        lines = [
            (alice, bob, "Hi Bob! This conversation is demo data."),
            (bob, alice, "Hi Alice. The server only stores the ciphertext of it."),
            (alice, bob, "Here is a picture."),
        ]
        for sender, recipient, text in lines[:-1]:
            self.send(sender, recipient, text)
        sender, recipient, text = lines[-1]
        key = message_id(sender.username, recipient.username, text)
        if Message.objects.filter(sender_id=sender.pk, client_message_id=key).exists():
            return  # sent by an earlier run: no second upload
        media = media_upload(
            uploader_id=sender.pk, upload=ContentFile(demo_image(), name="demo.png"), file_name="demo.png"
        )
        self.send(sender, recipient, text, attachment_ids=(media.pk,))

    def group(self, alice: User, bob: User, carol: User) -> ChatGroup:
        group = ChatGroup.objects.filter(name=GROUP_NAME, creator_id=alice.pk).first()
        if group is None:
            group = group_create(
                creator_id=alice.pk,
                name=GROUP_NAME,
                description="Created by manage.py demo.",
                member_ids=[bob.pk, carol.pk],
            )
        members = (alice, bob, carol)
        for sender, text in ((alice, "Welcome to the demo group."), (carol, "Hello everyone!")):
            key = message_id(str(group.pk), sender.username, text)
            if GroupMessage.objects.filter(group=group, client_message_id=key).exists():
                continue
            message_key = ChaCha20Poly1305.generate_key()
            group_message_send(
                group_id=group.pk,
                sender_id=sender.pk,
                encrypted_content=seal(message_key, text.encode()),
                encrypted_session_keys={
                    member.pk: wrap_for(sender.username, member.username, message_key) for member in members
                },
                crypto_version="1",
                encryption_algorithm=ALGORITHM,
                client_message_id=key,
            )
        return group
