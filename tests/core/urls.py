from django.urls import path

from core.urls import slash_optional
from messenger.urls import urlpatterns as project_urlpatterns
from tests.core.views import BoomView, EchoView, SlowQueryView, ThrottledView

urlpatterns = [
    *slash_optional("api/v1/test/echo", EchoView.as_view()),
    path("api/v1/test/boom", BoomView.as_view()),
    path("api/v1/test/throttled", ThrottledView.as_view()),
    path("api/v1/test/slow-query", SlowQueryView.as_view()),
    *project_urlpatterns,
]

handler400 = "core.middleware.handler400"
handler403 = "core.middleware.handler403"
handler404 = "core.middleware.handler404"
handler500 = "core.middleware.handler500"
