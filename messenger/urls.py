"""The project's routes: each app mounts its own under /api/v1/."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.health import healthz, readyz
from core.metrics import metrics_view
from core.middleware import api_not_found

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("contacts.urls")),
    path("", include("messaging.urls")),
    path("", include("groups.urls")),
    path("", include("media.urls")),
    path("", include("relay.urls")),
    path("", include("realtime.urls")),
    path("", include("presence.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),  # METRICS_ALLOWED only; others get a 404
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    # Last: any other /api/ path is a JSON 404 whatever DEBUG says.
    re_path(r"^api/", api_not_found),
    # The web client: / and the paths it routes itself, /verify-email (the email's link) among them.
    path("", include("webclient.urls")),
]

handler400 = "core.middleware.handler400"
handler403 = "core.middleware.handler403"
handler404 = "core.middleware.handler404"
handler500 = "core.middleware.handler500"
