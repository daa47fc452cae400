"""WSGI entry point of the relay-only process (gunicorn, as the monolith's REST)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.relay_service.settings")

django_wsgi_app = get_wsgi_application()  # sets Django up before anything imports models

from core.bodylimit import WSGIBodyLimitMiddleware  # noqa: E402

# As the monolith's entry point: bodies past the limit are refused before they are read.
application = WSGIBodyLimitMiddleware(django_wsgi_app)
