"""Media writes racing each other: what a client sees is a clear answer, never a 500, and nothing
is left behind (rows pointing at a deleted media, objects nobody references)."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from media import services
from media.models import Media, MediaGrant
from media.services import grant_media_access, media_delete, media_purge_unattached
from tests.support.media import upload

DEADLINE_SECONDS = 30


def _start_direct_upload(client, data: bytes) -> dict:
    body = client.post(
        "/api/v1/media/upload/direct",
        {"file_size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        format="json",
    ).json()
    assert httpx.put(body["upload_url"], content=data, headers=body["upload_headers"]).status_code == 200
    return body


@pytest.mark.django_db
def test_complete_racing_the_uploaders_delete_is_404_not_500(
    user_client, user, s3_storage, monkeypatch, django_capture_on_commit_callbacks
):
    """The uploader abandons a direct upload (DELETE, from another device) while "complete" is
    checking its bytes: "complete" answers 404, as for any media that is gone."""
    data = b"checked while deleted"
    body = _start_direct_upload(user_client, data)
    real_sniff = services.sniff

    def sniff_while_the_uploader_deletes(head: bytes) -> str:
        # The moment between the checks and the state change: the concurrent DELETE lands here.
        media_delete(media_id=body["id"], user_id=user.pk)
        return real_sniff(head)

    monkeypatch.setattr(services, "sniff", sniff_while_the_uploader_deletes)
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(body["complete_url"])
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "media_not_found"
    assert not Media.objects.filter(pk=body["id"]).exists()
    assert s3_storage.object_keys() == set()


def _backend_waits_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.django_db(transaction=True)
def test_delete_racing_a_send_that_attaches_it(user_client, user, other_user):
    """The uploader deletes a media while one of their devices sends a message attaching it. The
    send holds the media's row lock until it commits; the delete waits for it, then removes the
    media and the grants the send made. Without that wait the delete removed the row under the
    send's new grants and failed at commit (a 500)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: the two transactions cannot interleave there")
    media_id = upload(user_client, b"attached while deleted").json()["id"]
    attached, release_send = threading.Event(), threading.Event()
    delete_backend: list[int] = []
    outcome: dict[str, object] = {}

    def send() -> None:
        try:
            with transaction.atomic():
                grant_media_access(media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk])
                attached.set()
                release_send.wait(DEADLINE_SECONDS)
            outcome["send"] = "committed"
        except Exception as exc:
            outcome["send"] = repr(exc)
        finally:
            connections.close_all()

    def delete() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                delete_backend.append(cursor.fetchone()[0])
            media_delete(media_id=media_id, user_id=user.pk)
            outcome["delete"] = "deleted"
        except Exception as exc:
            outcome["delete"] = repr(exc)
        finally:
            connections.close_all()

    sender = threading.Thread(target=send)
    sender.start()
    assert attached.wait(DEADLINE_SECONDS)
    deleter = threading.Thread(target=delete)
    deleter.start()
    # Let the send commit only once the delete is blocked behind its lock (polled, not slept).
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not (delete_backend and _backend_waits_on_a_lock(delete_backend[0])):
        assert deleter.is_alive(), outcome
        assert time.monotonic() < deadline, "the delete never waited for the send's lock"
        time.sleep(0.02)
    release_send.set()
    sender.join(DEADLINE_SECONDS)
    deleter.join(DEADLINE_SECONDS)
    assert outcome == {"send": "committed", "delete": "deleted"}
    assert not Media.objects.filter(pk=media_id).exists()
    assert not MediaGrant.objects.filter(media_id=media_id).exists()
    assert user_client.get(f"/api/v1/media/{media_id}").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_purge_racing_a_send_that_attaches_an_old_upload_keeps_it(user_client, client_for, user, other_user):
    """An upload about to be purged (never attached, past its TTL) is attached by a send still
    in flight: the purge skips the row the send has locked, so the message keeps its attachment.
    A purge that did not lock would delete it once the send committed."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: the two transactions cannot interleave there")
    media_id = upload(user_client, b"old but about to be sent").json()["id"]
    Media.objects.filter(pk=media_id).update(created_at=timezone.now() - timedelta(days=2))
    attached, release_send = threading.Event(), threading.Event()
    purge_backend: list[int] = []
    outcome: dict[str, object] = {}

    def send() -> None:
        try:
            with transaction.atomic():
                grant_media_access(media_ids=[media_id], owner_id=user.pk, grantee_ids=[other_user.pk])
                attached.set()
                release_send.wait(DEADLINE_SECONDS)
            outcome["send"] = "committed"
        except Exception as exc:
            outcome["send"] = repr(exc)
        finally:
            connections.close_all()

    def purge() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                purge_backend.append(cursor.fetchone()[0])
            outcome["purged"] = media_purge_unattached(older_than=timedelta(days=1))
        except Exception as exc:
            outcome["purged"] = repr(exc)
        finally:
            connections.close_all()

    sender = threading.Thread(target=send)
    sender.start()
    assert attached.wait(DEADLINE_SECONDS)
    purger = threading.Thread(target=purge)
    purger.start()
    # The purge either finishes (it skipped the locked row) or waits behind the send's lock.
    deadline = time.monotonic() + DEADLINE_SECONDS
    while purger.is_alive() and not (purge_backend and _backend_waits_on_a_lock(purge_backend[0])):
        assert time.monotonic() < deadline, "the purge neither finished nor waited"
        time.sleep(0.02)
    release_send.set()
    sender.join(DEADLINE_SECONDS)
    purger.join(DEADLINE_SECONDS)
    assert outcome == {"send": "committed", "purged": 0}
    media = Media.objects.get(pk=media_id)
    assert media.attached_at is not None
    assert client_for(other_user).get(f"/api/v1/media/{media_id}").status_code == 200
