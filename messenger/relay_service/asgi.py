"""ASGI entry point of the relay-only process (HTTP only: sockets stay with the gateway)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.relay_service.settings")

application = get_asgi_application()
