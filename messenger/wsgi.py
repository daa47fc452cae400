"""WSGI entry point: production serves REST here (gunicorn) and /ws/ through asgi.py."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings")

application = get_wsgi_application()
