"""Server-rendered pages of accounts, for links that land in a browser before a web client exists.

GET /verify-email?token=... is where the verification email points (FRONTEND_URL). The page
verifies nothing by itself: mail scanners and link previews fetch every link in a message, and a
GET that spent the token would verify (or burn) it before the user ever clicked. It shows a button
whose script POSTs the token to the API (POST /api/v1/auth/verify-email), as a web client would.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def verify_email_page(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("token", "")[:1024]
    response = render(request, "accounts/verify_email.html", {"token": token})
    # The token is in this page's URL: no Referer carries it to another site.
    response["Referrer-Policy"] = "no-referrer"
    return response
