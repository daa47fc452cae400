"""A 1:1 message with an attachment, sent on the socket: the sender's `message.sent` and the
recipient's `message.new` carry the attachment exactly as REST and /sync show it (the same
`<media>` metadata, to the microsecond), so a client's state built from events equals a fresh
read, as it already did for group messages."""

from __future__ import annotations

import os

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import bearer_client
from tests.media.conftest import local_media_storage, upload
from tests.messaging.helpers import send_body
from tests.realtime.test_gateway import next_frame_of, rest, socket_for

pytestmark = pytest.mark.django_db(transaction=True)

# The media tests' fixture: this test's uploads go to its own temporary folder.
__all__ = ["local_media_storage"]


async def test_message_send_with_an_attachment_answers_message_sent_as_rest_reads_it(
    user, other_user, local_media_storage
):
    media = await sync_to_async(lambda: upload(bearer_client(user), os.urandom(1000)).json())()
    ann, bob = await socket_for(user), await socket_for(other_user)
    since = (await rest(other_user, "get", "/api/v1/sync")).json()["next_since"]
    body = {**await sync_to_async(send_body)(other_user), "attachment_ids": [media["id"]]}

    await ann.send_json_to({"type": "message.send", "data": body})
    sent = await ann.receive_json_from(timeout=3)
    new = await next_frame_of(bob, "message.new")

    assert sent["type"] == "message.sent", sent
    read_by_ann = (await rest(user, "get", f"/api/v1/messages/conversation/{other_user.pk}")).json()
    read_by_bob = (await rest(other_user, "get", f"/api/v1/messages/conversation/{user.pk}")).json()
    synced = (await rest(other_user, "get", f"/api/v1/sync?since={since}")).json()["items"]
    attachment = {key: media[key] for key in media if key != "download_url"}
    assert sent["data"] == {**read_by_ann["results"][0], "created": True}
    assert new["data"] == read_by_bob["results"][0] == synced[-1]["data"]
    assert new["data"]["attachments"] == [attachment]
    await ann.disconnect()
    await bob.disconnect()
