"""ASGI entry point: HTTP through Django, `/ws/` through Channels. Runs under daphne or uvicorn."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings")

# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from messenger.core.bodylimit import BodyLimitMiddleware, install_for_daphne  # noqa: E402
from messenger.realtime.origin import OptionalOriginValidator  # noqa: E402
from messenger.realtime.routing import websocket_urlpatterns  # noqa: E402

# Request bodies past their route's limit are refused before Django spools them (under daphne,
# before Twisted does): messenger.core.bodylimit.
install_for_daphne()

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(django_asgi_app),
        "websocket": OptionalOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
