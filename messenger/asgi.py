"""ASGI entry point: HTTP through Django, `/ws/` through Channels. Runs under daphne or uvicorn.

HTTP runs Django's WSGI handler on ASGI_HTTP_THREADS threads (core.threaded_http):
Django's ASGI handler runs every synchronous view on one thread per process, one request at a
time. ASGI_HTTP_THREADS=0 puts Django's ASGI handler back.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings")

# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from core.bodylimit import BodyLimitMiddleware, install_for_daphne  # noqa: E402
from core.threaded_http import ThreadPoolWSGIApp  # noqa: E402
from realtime.origin import OptionalOriginValidator  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

# Request bodies past their route's limit are refused before Django spools them (under daphne,
# before Twisted does): core.bodylimit.
install_for_daphne()

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(
            ThreadPoolWSGIApp(get_wsgi_application(), threads=settings.ASGI_HTTP_THREADS)
            if settings.ASGI_HTTP_THREADS > 0
            else django_asgi_app
        ),
        "websocket": OptionalOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
