"""The benchmark's URLconf: production's routes unchanged, plus the floor endpoints.

Named only by bench.settings (ROOT_URLCONF); messenger.urls, which production serves, has no floor.
"""

from django.urls import path

from bench.floor.api import FloorRowsView
from messenger.urls import handler400, handler403, handler404, handler500
from messenger.urls import urlpatterns as _production

FLOOR_ROWS_PATH = "api/v1/bench-floor/rows"

# First: messenger.urls ends with a catch-all JSON 404 for /api/.
urlpatterns = [path(FLOOR_ROWS_PATH, FloorRowsView.as_view(), name="bench-floor-rows"), *_production]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
