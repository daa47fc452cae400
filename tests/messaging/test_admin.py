"""Admin: metadata only, never ciphertext; a moderator deletes for everyone, nobody edits."""

from __future__ import annotations

import base64

import pytest
from django.db import connection

from messaging.models import Message
from tests.messaging.helpers import CHANGELIST, staff_client

pytestmark = pytest.mark.django_db


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
        for field in ("encrypted_content", "encrypted_session_key", "sender_encrypted_session_key"):
            assert f"field-{field}" not in html and f'name="{field}"' not in html
            assert field.replace("_", " ").capitalize() not in html


def test_a_moderator_deletes_for_everyone_and_both_sides_are_told(
    capture_events, send, make_user, user, other_user
):
    message = send(user, other_user)
    client = staff_client(make_user, role="moderator")
    with capture_events() as sent:
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


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the estimate comes from PostgreSQL's statistics"
)
def test_the_unfiltered_changelist_does_not_count_the_whole_table(
    send, make_user, user, other_user, monkeypatch, django_assert_max_num_queries
):
    from messaging.admin import EstimatedCountPaginator

    for _ in range(3):
        send(user, other_user)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_from_rows", 1)  # as if it were huge
    client = staff_client(make_user, role="moderator")
    with django_assert_max_num_queries(50) as captured:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    sql = [query["sql"] for query in captured.captured_queries]
    assert not [q for q in sql if "COUNT(*)" in q.upper() and "messaging_message" in q]
    assert any("reltuples" in q for q in sql)
    # A search counts exactly (a handful of rows, found through an index).
    with django_assert_max_num_queries(50) as captured:
        assert client.get(CHANGELIST, {"q": user.username}).status_code == 200
    assert any("COUNT(*)" in q["sql"].upper() for q in captured.captured_queries)
