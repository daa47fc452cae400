"""ASGI entry point of the relay-only process (HTTP only: sockets stay with the gateway)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.relay_service.settings")

django_asgi_app = get_asgi_application()

from core.bodylimit import BodyLimitMiddleware, install_for_daphne  # noqa: E402

# As the monolith's entry point: bodies past the limit are refused before they are read.
install_for_daphne()
application = BodyLimitMiddleware(django_asgi_app)
