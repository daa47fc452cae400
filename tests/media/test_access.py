"""Who may see a media object (uploader, grantees) and who may delete it (uploader only), on
local storage and on S3 (moto). Local-mode signed URLs are in test_signed_urls.py."""

import os

import pytest

from media.models import Media
from media.services import grant_media_access
from tests.support.media import fetch, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("storage_kind")]


@pytest.fixture
def uploaded(user_client):
    data = os.urandom(50_000)
    body = upload(user_client, data, name="report.pdf", file_name='my "report".pdf\r\nX-Evil: 1').json()
    return body, data


def test_uploader_gets_metadata_with_download_url(user_client, uploaded, media_storage):
    body, data = uploaded
    response = user_client.get(f"/api/v1/media/{body['id']}")
    assert response.status_code == 200
    assert response.json()["sha256"] == body["sha256"]
    url = response.json()["download_url"]
    if media_storage.kind == "s3":
        key = Media.objects.get(pk=body["id"]).object_key
        assert url.startswith(f"{media_storage.endpoint.url}/{media_storage.bucket}/{key}?")
        assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    else:
        assert url.startswith(f"/api/v1/media/{body['id']}/download?sig=")
    assert fetch(user_client, url).body == data
    assert user_client.get(f"/api/v1/media/{body['id']}/").status_code == 200  # slash optional


def test_download_url_is_an_attachment_with_a_one_line_name(api_client, user_client, uploaded):
    body, data = uploaded
    url = user_client.get(f"/api/v1/media/{body['id']}").json()["download_url"]
    downloaded = fetch(api_client, url)  # no Bearer: the URL itself is the credential
    assert downloaded.status == 200
    assert downloaded.body == data
    disposition = downloaded.headers["Content-Disposition"]
    assert disposition == 'attachment; filename="my _report_.pdfX-Evil_ 1"'  # kept, but on one line
    assert downloaded.headers["Content-Type"] == "application/octet-stream"


def test_download_without_signature_needs_auth(api_client, uploaded):
    body, _ = uploaded
    response = api_client.get(f"/api/v1/media/{body['id']}/download")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_uploader_downloads_with_bearer(user_client, uploaded, media_storage):
    body, data = uploaded
    downloaded = fetch(user_client, f"/api/v1/media/{body['id']}/download")
    assert downloaded.status == 200
    assert downloaded.body == data
    # The app's own answer (the bytes locally, a redirect to a presigned URL on S3) is nosniff
    # and never cached; the bytes come as an attachment either way.
    assert downloaded.app["X-Content-Type-Options"] == "nosniff"
    assert downloaded.app["Cache-Control"] == "private, no-store"
    assert downloaded.app.status_code == (302 if media_storage.kind == "s3" else 200)
    assert downloaded.headers["Content-Disposition"] == 'attachment; filename="my _report_.pdfX-Evil_ 1"'


def test_outsider_gets_404_everywhere(client_for, other_user, uploaded, media_storage):
    body, data = uploaded
    outsider = client_for(other_user)
    for path in ("", "/download", "/thumbnail", "/complete"):
        method = outsider.post if path == "/complete" else outsider.get
        response = method(f"/api/v1/media/{body['id']}{path}")
        assert response.status_code == 404, path
        assert response.json()["code"] == "media_not_found"
        assert body["id"] not in response.content.decode()
    response = outsider.delete(f"/api/v1/media/{body['id']}")
    assert response.status_code == 404
    assert response.json()["code"] == "media_not_found"
    assert Media.objects.filter(pk=body["id"]).exists()
    [key] = media_storage.object_keys()
    assert media_storage.read(key) == data


def test_unknown_and_malformed_ids_are_404(user_client):
    for media_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "1", "%00"):
        for path in ("", "/download", "/thumbnail"):
            response = user_client.get(f"/api/v1/media/{media_id}{path}")
            assert response.status_code == 404, (media_id, path)
            assert response.json()["code"] in {"media_not_found", "not_found"}
        assert user_client.delete(f"/api/v1/media/{media_id}").status_code == 404


def test_grantee_sees_and_downloads_but_cannot_delete(client_for, user, other_user, uploaded, media_storage):
    body, data = uploaded
    grant_media_access(media_ids=[body["id"]], owner_id=user.pk, grantee_ids=[other_user.pk])
    grantee = client_for(other_user)
    detail = grantee.get(f"/api/v1/media/{body['id']}")
    assert detail.status_code == 200
    assert fetch(grantee, detail.json()["download_url"]).body == data
    assert fetch(grantee, f"/api/v1/media/{body['id']}/download").body == data
    response = grantee.delete(f"/api/v1/media/{body['id']}")
    assert response.status_code == 403
    assert response.json()["code"] == "not_media_owner"
    assert len(media_storage.object_keys()) == 1


def test_uploader_deletes_row_and_object(
    user_client, uploaded, media_storage, django_capture_on_commit_callbacks
):
    body, _ = uploaded
    key = Media.objects.get(pk=body["id"]).object_key
    url = user_client.get(f"/api/v1/media/{body['id']}").json()["download_url"]
    assert media_storage.exists(key)
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.delete(f"/api/v1/media/{body['id']}")
    assert response.status_code == 204
    assert not Media.objects.filter(pk=body["id"]).exists()
    # Gone from storage (S3: boto3 lists the bucket), and the URL handed out earlier is dead.
    assert not media_storage.exists(key)
    assert media_storage.object_keys() == set()
    # (S3 answers 403 for a missing key to whoever may not list the bucket.)
    assert fetch(user_client, url).status in {403, 404}
    assert user_client.get(f"/api/v1/media/{body['id']}").status_code == 404
    assert user_client.delete(f"/api/v1/media/{body['id']}").status_code == 404


def test_html_is_served_as_octet_stream(user_client):
    body = upload(user_client, b"<!doctype html><script>alert(1)</script>", name="x.html").json()
    assert body["file_type"] == "application/octet-stream"  # text has no signature: never typed as html
    for url in (
        f"/api/v1/media/{body['id']}/download",
        user_client.get(f"/api/v1/media/{body['id']}").json()["download_url"],
    ):
        downloaded = fetch(user_client, url)
        assert downloaded.headers["Content-Type"] == "application/octet-stream"
        assert downloaded.headers["Content-Disposition"].startswith("attachment;")


def test_non_ascii_file_name_is_rfc5987_encoded(user_client):
    body = upload(user_client, b"data", name="x", file_name="r\u00e9sum\u00e9/../\u2603.txt").json()
    downloaded = fetch(user_client, f"/api/v1/media/{body['id']}/download")
    assert downloaded.headers["Content-Disposition"] == (
        "attachment; filename*=utf-8''r%C3%A9sum%C3%A9_.._%E2%98%83.txt"
    )


def test_storage_refusing_a_delete_leaves_it_to_a_retrying_task(
    user_client, uploaded, media_storage, django_capture_on_commit_callbacks
):
    from unittest import mock

    from django.core.files.storage import default_storage

    body, _ = uploaded
    key = Media.objects.get(pk=body["id"]).object_key
    real_delete = type(default_storage._wrapped).delete
    calls = []

    def flaky_delete(storage, name):
        calls.append(name)
        if len(calls) == 1:
            raise ConnectionError("storage blinked")
        return real_delete(storage, name)

    with (
        mock.patch.object(type(default_storage._wrapped), "delete", flaky_delete),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = user_client.delete(f"/api/v1/media/{body['id']}")
    assert response.status_code == 204
    assert calls == [key, key]  # refused in the request, done by the task (eager here)
    assert not media_storage.exists(key)


def test_query_budgets(user_client, client_for, user, other_user, django_assert_max_num_queries):
    # The user behind the token, then one statement per step; a grantee's view costs the same.
    with django_assert_max_num_queries(4):  # user; savepoint, INSERT, release
        body = upload(user_client, b"budget").json()
    grant_media_access(media_ids=[body["id"]], owner_id=user.pk, grantee_ids=[other_user.pk])
    for client in (user_client, client_for(other_user)):
        with django_assert_max_num_queries(2):  # user; the media with its visibility check
            assert client.get(f"/api/v1/media/{body['id']}").status_code == 200
        with django_assert_max_num_queries(2):
            assert client.get(f"/api/v1/media/{body['id']}/download").status_code in {200, 302}
    with django_assert_max_num_queries(6):  # user; savepoint, the row, grants, row, release
        assert user_client.delete(f"/api/v1/media/{body['id']}").status_code == 204
