"""WSGI entry point: production serves REST here (gunicorn) and /ws/ through asgi.py."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings")

django_wsgi_app = get_wsgi_application()  # sets Django up before anything imports models

from core.bodylimit import WSGIBodyLimitMiddleware  # noqa: E402

# Request bodies past their route's limit are refused before Django reads them, and a chunked
# body is read within the limit: core.bodylimit.
application = WSGIBodyLimitMiddleware(django_wsgi_app)
