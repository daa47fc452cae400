"""A history page is read by a hand-written statement into rows (messaging.statements) and built
from them (messaging.events.message_row_payload). Its bytes must be the ones the ORM path wrote:
`conversation_messages` paginated by DRF's CursorPagination, each Message rendered by the builder
as it was before rows (`legacy_message_payload`, a copy), through the same renderer. Every state
of a message and both viewers, pages walked by `next` and back by `previous`. The statement's
rows against the queryset's: tests/messaging/test_statements.py."""

from __future__ import annotations

import pytest
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.rendering import b64, iso
from media.events import attachments_of
from media.selectors import attachments_for
from messaging.api import MessageCursorPagination
from messaging.models import Message
from messaging.selectors import conversation_messages
from tests.messaging.helpers import send_body

pytestmark = pytest.mark.django_db


def legacy_message_payload(message: Message, *, viewer_id, attachments) -> dict:
    """messaging.events.message_payload as it was before rows (b598df7), kept as the reference."""
    deleted = message.deleted_at is not None
    own = str(viewer_id) == str(message.sender_id)
    found = []
    if not deleted and message.attachment_ids:
        found = attachments_of(message.attachment_ids, attachments)
    client_message_id = message.client_message_id
    return {
        "id": str(message.id),
        "sender_id": str(message.sender_id),
        "recipient_id": str(message.recipient_id),
        "encrypted_content": None if deleted else b64(message.encrypted_content),
        "encrypted_session_key": None if deleted else b64(message.encrypted_session_key),
        "sender_encrypted_session_key": b64(message.sender_encrypted_session_key)
        if own and not deleted
        else None,
        "crypto_version": str(message.crypto_version),
        "encryption_algorithm": str(message.encryption_algorithm),
        "client_message_id": None if client_message_id is None else str(client_message_id),
        "attachments": found,
        "is_read": message.read_at is not None,
        "read_at": iso(message.read_at),
        "is_deleted": deleted,
        "created_at": iso(message.created_at),
    }


def legacy_page(viewer, peer, url: str) -> bytes:
    """The body the queryset path rendered for `url` (a first page, or a next/previous link)."""
    request = Request(APIRequestFactory().get(url))
    paginator = MessageCursorPagination()
    page = paginator.paginate_queryset(conversation_messages(user_id=viewer.pk, peer_id=peer.pk), request)
    attachments = attachments_for(page)
    results = [legacy_message_payload(m, viewer_id=viewer.pk, attachments=attachments) for m in page]
    return JSONRenderer().render(paginator.get_paginated_response(results).data)


@pytest.fixture
def conversation(client_for, user, other_user, make_user, local_media_storage):
    """Every state a message can be in, both directions, and a third user's messages beside it."""
    from tests.support.media import upload

    mine, theirs = client_for(user), client_for(other_user)

    def send(client, recipient, **overrides) -> str:
        response = client.post("/api/v1/messages/send", send_body(recipient, **overrides), format="json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    kept, gone = (upload(mine, data).json()["id"] for data in (b"kept", b"gone"))
    their_file = upload(theirs, b"theirs", name="p.png").json()["id"]
    send(mine, other_user, attachment_ids=[kept, gone])  # one upload deleted below: one attachment
    send(theirs, user, attachment_ids=[their_file])
    send(mine, other_user, client_message_id=None)
    send(theirs, user, sender_encrypted_session_key=None)
    read = send(mine, other_user)
    wiped = send(mine, other_user, attachment_ids=[kept])  # a tombstone: no attachments
    hidden_by_me = send(theirs, user)
    hidden_by_them = send(mine, other_user)
    for _ in range(3):
        send(mine, other_user)
        send(theirs, user)
    outsider = make_user()
    send(client_for(outsider), user)
    send(mine, outsider)

    assert mine.delete(f"/api/v1/media/{gone}").status_code == 204
    assert theirs.put(f"/api/v1/messages/{read}/read").status_code == 200
    assert mine.delete(f"/api/v1/messages/{wiped}?scope=everyone").status_code == 204
    assert mine.delete(f"/api/v1/messages/{hidden_by_me}?scope=me").status_code == 204
    assert theirs.delete(f"/api/v1/messages/{hidden_by_them}?scope=me").status_code == 204
    return outsider


@pytest.mark.parametrize("limit", [50, 4])
def test_each_page_is_byte_for_byte_the_querysets(client_for, user, other_user, conversation, limit):
    for viewer, peer in ((user, other_user), (other_user, user)):
        client = client_for(viewer)
        url = f"/api/v1/messages/conversation/{peer.pk}?limit={limit}"
        seen: list[str] = []
        pages = 0
        while url:  # forwards
            response = client.get(url)
            assert response.status_code == 200
            assert response.content == legacy_page(viewer, peer, url)
            body = response.json()
            seen += [message["id"] for message in body["results"]]
            pages += 1
            last, url = url, body["next"]
        assert pages == (1 if limit == 50 else 4)
        assert len(seen) == len(set(seen)) == 13  # 14 sent between them, one hidden by each
        url = client.get(last).json()["previous"]
        while url:  # and back
            response = client.get(url)
            assert response.content == legacy_page(viewer, peer, url)
            url = response.json()["previous"]


def test_the_page_shows_each_state_as_the_viewer_sees_it(client_for, user, other_user, conversation):
    body = client_for(user).get(f"/api/v1/messages/conversation/{other_user.pk}").json()["results"]
    by_state = {
        "tombstone": [m for m in body if m["is_deleted"]],
        "read": [m for m in body if m["is_read"]],
        "attachments": [m for m in body if m["attachments"]],
    }
    [tombstone] = by_state["tombstone"]
    assert tombstone["encrypted_content"] is None and tombstone["attachments"] == []
    [read] = by_state["read"]
    assert read["read_at"] is not None and read["sender_id"] == str(user.pk)
    # Mine shows my one upload still there; theirs shows their file; mine carry my own key only.
    assert sorted(len(m["attachments"]) for m in by_state["attachments"]) == [1, 1]
    assert any(m["client_message_id"] is None and not m["is_deleted"] for m in body)
    for message in body:
        own = message["sender_id"] == str(user.pk)
        assert (message["sender_encrypted_session_key"] is not None) == (own and not message["is_deleted"])


def test_no_one_else_sees_the_pairs_messages(client_for, user, other_user, conversation):
    outsider = client_for(conversation)
    assert outsider.get(f"/api/v1/messages/conversation/{other_user.pk}").json()["results"] == []
    with_user = outsider.get(f"/api/v1/messages/conversation/{user.pk}").json()["results"]
    assert len(with_user) == 2
    assert {m["sender_id"] for m in with_user} | {m["recipient_id"] for m in with_user} == {
        str(user.pk),
        str(conversation.pk),
    }


def page_queries(client, url, django_assert_max_num_queries) -> list[str]:
    with django_assert_max_num_queries(3) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def test_a_page_reads_the_messages_once_and_the_media_only_when_it_has_attachments(
    client_for, user, other_user, conversation, make_user, send, django_assert_max_num_queries
):
    url = f"/api/v1/messages/conversation/{other_user.pk}?limit=50"
    queries = page_queries(client_for(user), url, django_assert_max_num_queries)
    assert sum('"messaging_message"' in sql for sql in queries) == 1
    assert sum('"media"' in sql for sql in queries) == 1

    plain, peer = make_user(), make_user()
    for _ in range(30):
        send(plain, peer)
    queries = page_queries(
        client_for(plain), f"/api/v1/messages/conversation/{peer.pk}", django_assert_max_num_queries
    )
    assert sum('"messaging_message"' in sql for sql in queries) == 1
    assert not any('"media"' in sql for sql in queries)
