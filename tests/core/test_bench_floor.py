"""The benchmark's floor endpoints (bench/floor/, mounted by bench/urls.py) exist only under the
benchmark's own settings module: production's settings and URLconf never load them (issue 15).
A user of the production server who tries the floor's path gets the ordinary JSON 404."""

from __future__ import annotations

import importlib

import pytest
from django.conf import settings

FLOOR_PATH = "/api/v1/bench-floor/rows"


@pytest.mark.django_db
def test_an_authenticated_user_cannot_reach_the_floor_in_production(user_client):
    posted = user_client.post(FLOOR_PATH, {"body": "aGVsbG8="}, format="json")
    assert posted.status_code == 404
    assert posted.json() == {"detail": "Not found.", "code": "not_found"}
    listed = user_client.get(FLOOR_PATH, {"limit": 50})
    assert listed.status_code == 404
    assert listed.json() == {"detail": "Not found.", "code": "not_found"}


def test_production_settings_neither_install_nor_route_the_floor():
    production = importlib.import_module("messenger.settings")
    assert production.ROOT_URLCONF == "messenger.urls"
    assert not [app for app in production.INSTALLED_APPS if app.startswith("bench")]
    assert not [app for app in settings.INSTALLED_APPS if app.startswith("bench")]
    routes = importlib.import_module("messenger.urls")
    assert "bench" not in repr(routes.urlpatterns)
