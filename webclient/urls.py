"""The client's paths (webclient/views.py): / and what the client routes in the browser."""

from django.urls import path, re_path

from webclient.views import client_page

# Top-level paths the client routes itself; each may carry more after a slash (/chat/<user id>).
CLIENT_ROUTES = r"login|register|verify-email|invite|chat|group|contacts|settings|restore"

urlpatterns = [
    path("", client_page, name="webclient"),
    # The verification email links here (FRONTEND_URL + /verify-email?token=...).
    path("verify-email", client_page, name="verify-email-page"),
    re_path(rf"^(?P<path>(?:{CLIENT_ROUTES})(?:/[^/]*)*)$", client_page, name="webclient-route"),
]
