"""WSGI entry point of the relay-only process (gunicorn, as the monolith's REST)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.relay_service.settings")

application = get_wsgi_application()
