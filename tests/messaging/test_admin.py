"""Admin: metadata only, never ciphertext; a moderator deletes for everyone, nobody edits."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from messaging.models import Message

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/messaging/message/"


def staff_client(make_user, role: str) -> Client:
    staff = make_user(is_staff=True, role=role)
    staff.user_permissions.add(Permission.objects.get(codename="view_message"))
    client = Client()
    client.force_login(staff)
    return client


def secrets_of(message: dict) -> list[str]:
    values = [
        message["encrypted_content"],
        message["encrypted_session_key"],
        message["sender_encrypted_session_key"],
    ]
    # Both the base64 form and Python's repr of the raw bytes.
    return values + [repr(base64.b64decode(value)) for value in values]


def test_the_changelist_and_the_detail_page_show_metadata_but_no_ciphertext(
    send, make_user, user, other_user
):
    message = send(user, other_user)
    client = staff_client(make_user, role="moderator")
    for url in (CHANGELIST, f"{CHANGELIST}{message['id']}/change/"):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert user.username in html and other_user.username in html
        assert ('field-content_bytes">48<' in html) or ('<div class="readonly">48</div>' in html)  # the size
        for secret in secrets_of(message):
            assert secret not in html


def test_a_moderator_deletes_for_everyone_and_both_sides_are_told(
    published, send, make_user, user, other_user
):
    message = send(user, other_user)
    client = staff_client(make_user, role="moderator")
    with published() as sent:
        response = client.post(
            CHANGELIST, {"action": "delete_for_everyone", "_selected_action": [message["id"]]}
        )
    assert response.status_code == 302
    stored = Message.objects.get(pk=message["id"])
    assert stored.deleted_at is not None
    assert bytes(stored.encrypted_content) == b""
    assert [event["type"] for event in sent] == ["message.deleted"]


def test_staff_without_the_moderator_role_cannot_delete(send, make_user, user, other_user):
    message = send(user, other_user)
    client = staff_client(make_user, role="user")
    response = client.post(CHANGELIST, {"action": "delete_for_everyone", "_selected_action": [message["id"]]})
    assert Message.objects.get(pk=message["id"]).deleted_at is None
    assert response.status_code in (200, 302)


def test_nobody_edits_or_hard_deletes_a_message_in_the_admin(send, make_user, user, other_user):
    message = send(user, other_user)
    client = staff_client(make_user, role="moderator")
    client.post(f"{CHANGELIST}{message['id']}/change/", {"crypto_version": "tampered"})
    assert client.get(f"{CHANGELIST}{message['id']}/delete/").status_code == 403
    assert Message.objects.get(pk=message["id"]).crypto_version == "1"
