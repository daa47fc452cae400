"""Who may see a media object (uploader, grantees) and who may delete it (uploader only)."""

import os
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.storage import default_storage

from media.models import Media
from media.services import grant_media_access
from tests.media.conftest import upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploaded(user_client):
    data = os.urandom(50_000)
    body = upload(user_client, data, name="report.pdf", file_name='my "report".pdf\r\nX-Evil: 1').json()
    return body, data


def read_body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_uploader_gets_metadata_with_download_url(user_client, uploaded):
    body, _ = uploaded
    response = user_client.get(f"/api/v1/media/{body['id']}")
    assert response.status_code == 200
    assert response.json()["sha256"] == body["sha256"]
    assert response.json()["download_url"].startswith(f"/api/v1/media/{body['id']}/download?sig=")
    assert user_client.get(f"/api/v1/media/{body['id']}/").status_code == 200  # slash optional


def test_signed_download_url_works_without_auth(api_client, user_client, uploaded):
    body, data = uploaded
    url = user_client.get(f"/api/v1/media/{body['id']}").json()["download_url"]
    response = api_client.get(url)
    assert response.status_code == 200
    assert read_body(response) == data
    assert response["Content-Disposition"].startswith("attachment;")
    assert "\r" not in response["Content-Disposition"] and "\n" not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/octet-stream"


def test_signed_url_expires(api_client, user_client, uploaded, settings):
    body, _ = uploaded
    url = user_client.get(f"/api/v1/media/{body['id']}").json()["download_url"]
    with mock.patch("django.core.signing.time.time", return_value=__import__("time").time() + 301):
        assert api_client.get(url).status_code == 404


def test_tampered_or_foreign_signature_is_404(api_client, user_client, uploaded):
    body, _ = uploaded
    other = upload(user_client, b"other file").json()
    url = user_client.get(f"/api/v1/media/{body['id']}").json()["download_url"]
    other_url = user_client.get(f"/api/v1/media/{other['id']}").json()["download_url"]
    sig_of_other = other_url.split("sig=")[1]
    assert api_client.get(f"/api/v1/media/{body['id']}/download?sig={sig_of_other}").status_code == 404
    assert api_client.get(url[:-3] + "AAA").status_code == 404


def test_download_without_signature_needs_auth(api_client, uploaded):
    body, _ = uploaded
    assert api_client.get(f"/api/v1/media/{body['id']}/download").status_code == 401


def test_uploader_downloads_with_bearer(user_client, uploaded):
    body, data = uploaded
    response = user_client.get(f"/api/v1/media/{body['id']}/download")
    assert response.status_code == 200
    assert read_body(response) == data
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = response["Content-Disposition"]
    assert disposition == 'attachment; filename="my _report_.pdfX-Evil_ 1"'  # kept, but on one line
    assert "\r" not in disposition and "\n" not in disposition


def test_outsider_gets_404_everywhere(client_for, other_user, uploaded):
    body, _ = uploaded
    outsider = client_for(other_user)
    for path in ("", "/download", "/thumbnail"):
        response = outsider.get(f"/api/v1/media/{body['id']}{path}")
        assert response.status_code == 404, path
        assert response.json()["code"] == "media_not_found"
    assert outsider.delete(f"/api/v1/media/{body['id']}").status_code == 404
    assert Media.objects.filter(pk=body["id"]).exists()


def test_unknown_media_is_404(user_client):
    assert user_client.get("/api/v1/media/00000000-0000-0000-0000-000000000000").status_code == 404


def test_grantee_sees_and_downloads_but_cannot_delete(client_for, user, other_user, uploaded):
    body, data = uploaded
    grant_media_access(media_ids=[body["id"]], owner_id=user.pk, grantee_ids=[other_user.pk])
    grantee = client_for(other_user)
    assert grantee.get(f"/api/v1/media/{body['id']}").status_code == 200
    assert read_body(grantee.get(f"/api/v1/media/{body['id']}/download")) == data
    response = grantee.delete(f"/api/v1/media/{body['id']}")
    assert response.status_code == 403
    assert response.json()["code"] == "not_media_owner"


def test_uploader_deletes_row_and_object(user_client, uploaded, django_capture_on_commit_callbacks):
    body, _ = uploaded
    key = Media.objects.get(pk=body["id"]).object_key
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.delete(f"/api/v1/media/{body['id']}")
    assert response.status_code == 204
    assert not Media.objects.filter(pk=body["id"]).exists()
    assert not default_storage.exists(key)
    assert user_client.get(f"/api/v1/media/{body['id']}").status_code == 404


def test_deleted_media_signed_url_is_dead(
    api_client, user_client, uploaded, django_capture_on_commit_callbacks
):
    body, _ = uploaded
    url = user_client.get(f"/api/v1/media/{body['id']}").json()["download_url"]
    with django_capture_on_commit_callbacks(execute=True):
        user_client.delete(f"/api/v1/media/{body['id']}")
    assert api_client.get(url).status_code == 404


def test_html_is_served_as_octet_stream(user_client):
    body = upload(user_client, b"<!doctype html><script>alert(1)</script>", name="x.html").json()
    assert body["file_type"] == "text/html"
    response = user_client.get(f"/api/v1/media/{body['id']}/download")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


def test_non_ascii_file_name_is_rfc5987_encoded(user_client):
    body = upload(user_client, b"data", name="x", file_name="r\u00e9sum\u00e9/../\u2603.txt").json()
    response = user_client.get(f"/api/v1/media/{body['id']}/download")
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''r%C3%A9sum%C3%A9_.._%E2%98%83.txt"


def test_signed_url_ttl_is_a_setting(user_client, api_client, uploaded, settings):
    body, _ = uploaded
    settings.MEDIA_URL_TTL_SECONDS = 5
    url = user_client.get(f"/api/v1/media/{body['id']}").json()["download_url"]
    later = __import__("time").time() + timedelta(seconds=6).total_seconds()
    with mock.patch("django.core.signing.time.time", return_value=later):
        assert api_client.get(url).status_code == 404
    assert api_client.get(url).status_code == 200
