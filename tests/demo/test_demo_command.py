"""`manage.py demo`: demo data a newcomer can log in to and look at, idempotent (issue 16)."""

from __future__ import annotations

import base64
import importlib.util
import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from accounts.models import User
from contacts.models import Contact
from groups.models import ChatGroup, GroupMessage
from media.models import Media
from messaging.models import Message

QUICKSTART = "examples/quickstart.py"


@pytest.fixture(autouse=True)
def local_media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


def run_demo(**options) -> str:
    out = io.StringIO()
    call_command("demo", stdout=out, **options)
    return out.getvalue()


def login(username: str, password: str) -> APIClient:
    response = APIClient().post(
        "/api/v1/auth/login", {"login": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


def counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "contacts": Contact.objects.count(),
        "messages": Message.objects.count(),
        "groups": ChatGroup.objects.count(),
        "group_messages": GroupMessage.objects.count(),
        "media": Media.objects.count(),
    }


def quickstart_module():
    from django.conf import settings

    spec = importlib.util.spec_from_file_location("quickstart", settings.BASE_DIR / QUICKSTART)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_demo_prints_logins_that_show_the_demo_data(settings):
    settings.DEBUG = True
    output = run_demo()
    password = re.search(r"password for all: (\S+)\)", output).group(1)
    assert "demo_admin" in output and "demo_alice" in output and "demo_bob" in output

    alice, bob, carol = (login(name, password) for name in ("demo_alice", "demo_bob", "demo_carol"))
    alice_id = alice.get("/api/v1/auth/me").json()["id"]
    bob_me = bob.get("/api/v1/auth/me").json()
    assert bob_me["is_verified"] is True and bob_me["public_key"]
    assert bob.get("/api/v1/keys/count").json()["one_time_prekeys"] == 10

    # Contacts: alice and bob accepted; carol's request to alice pending.
    statuses = {c["user"]["username"]: c["status"] for c in alice.get("/api/v1/contacts").json()["results"]}
    assert statuses == {"demo_bob": "accepted", "demo_carol": "pending"}

    # A conversation of three messages; the last carries an image bob may fetch.
    conversation = bob.get(f"/api/v1/messages/conversation/{alice_id}").json()["results"]
    assert len(conversation) == 3
    (attachment,) = conversation[0]["attachments"]
    media = bob.get(f"/api/v1/media/{attachment['id']}")
    assert media.status_code == 200 and media.json()["file_type"] == "image/png"
    # Really encrypted: bob decrypts it with the scheme (and demo keys) of examples/quickstart.py.
    quickstart = quickstart_module()
    from demo.management.commands.demo import encryption_key, public_key

    text = quickstart.decrypt_message(conversation[0], encryption_key("demo_bob"), public_key("demo_alice"))
    assert text == "Here is a picture."
    assert b"picture" not in base64.b64decode(conversation[0]["encrypted_content"])

    # A group of three with two messages, which carol (a member) reads.
    (group,) = carol.get("/api/v1/groups").json()["results"]
    assert group["name"] == "Demo group"
    assert len(carol.get(f"/api/v1/groups/{group['id']}").json()["members"]) == 3
    assert len(carol.get(f"/api/v1/groups/{group['id']}/messages").json()["results"]) == 2


@pytest.mark.django_db(transaction=True)
def test_demo_twice_changes_nothing(settings):
    settings.DEBUG = True
    run_demo()
    first = counts()
    assert first == {"users": 4, "contacts": 3, "messages": 3, "groups": 1, "group_messages": 2, "media": 1}
    output = run_demo()
    assert "Demo data is ready" in output
    assert counts() == first


@pytest.mark.django_db(transaction=True)
def test_the_admin_shows_the_demo_data(settings, client):
    settings.DEBUG = True
    output = run_demo()
    password = re.search(r"password for all: (\S+)\)", output).group(1)
    assert client.login(username="demo_admin", password=password)
    users = client.get("/admin/accounts/user/")
    assert users.status_code == 200
    assert b"demo_alice" in users.content and b"demo_carol" in users.content
    groups = client.get("/admin/groups/chatgroup/")
    assert b"Demo group" in groups.content


@pytest.mark.django_db
def test_demo_refuses_a_production_database_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        run_demo()
    assert not User.objects.filter(username__startswith="demo_").exists()
