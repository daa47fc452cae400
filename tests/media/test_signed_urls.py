"""Local mode's signed download URLs (S3 mode presigns; moto does not verify signatures or
expiry, real S3 and MinIO do)."""

import time
from unittest import mock

import pytest

from tests.support.media import upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploaded(user_client):
    return upload(user_client, b"signed bytes", name="a.bin").json()


def download_url(client, media) -> str:
    return client.get(f"/api/v1/media/{media['id']}").json()["download_url"]


def test_signed_url_expires(api_client, user_client, uploaded):
    url = download_url(user_client, uploaded)
    with mock.patch("django.core.signing.time.time", return_value=time.time() + 301):
        response = api_client.get(url)
    assert response.status_code == 404
    assert response.json()["code"] == "media_not_found"


def test_signed_url_ttl_is_a_setting(user_client, api_client, uploaded, settings):
    settings.MEDIA_URL_TTL_SECONDS = 5
    url = download_url(user_client, uploaded)
    with mock.patch("django.core.signing.time.time", return_value=time.time() + 6):
        assert api_client.get(url).status_code == 404
    assert api_client.get(url).status_code == 200


def test_tampered_or_foreign_signature_is_404(api_client, user_client, uploaded):
    other = upload(user_client, b"other file").json()
    url = download_url(user_client, uploaded)
    sig_of_other = download_url(user_client, other).split("sig=")[1]
    assert api_client.get(f"/api/v1/media/{uploaded['id']}/download?sig={sig_of_other}").status_code == 404
    assert api_client.get(url[:-3] + "AAA").status_code == 404
    assert api_client.get(f"/api/v1/media/{uploaded['id']}/download?sig=%00%ff").status_code == 404


def test_download_signature_does_not_open_the_thumbnail(api_client, user_client):
    body = upload(user_client, b"video", thumbnail=b"thumb").json()
    sig = download_url(user_client, body).split("sig=")[1]
    assert api_client.get(f"/api/v1/media/{body['id']}/thumbnail?sig={sig}").status_code == 404
    assert api_client.get(f"/api/v1/media/{body['id']}/download?sig={sig}").status_code == 200
