"""The relay-only process's routes: relay under /api/v1/, health, readiness and its schema."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from core.health import healthz, readyz
from core.metrics import metrics_view
from core.middleware import api_not_found

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),  # METRICS_ALLOWED only; others get a 404
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/", include("relay.urls")),
    # Last: any other /api/ path (another app's, here) is a JSON 404.
    re_path(r"^api/", api_not_found),
]

handler400 = "core.middleware.handler400"
handler403 = "core.middleware.handler403"
handler404 = "core.middleware.handler404"
handler500 = "core.middleware.handler500"
