"""The client's one page: index.html for / and every path the client routes itself.

The client routes in the browser (history API): a link into it (the verification email's
/verify-email?token=..., an invitation's /register?invitation=...) or a reload on /chat/<id> must
get the same page, which then reads its own URL. Nothing here reads the query: the page verifies
nothing by being opened (mail scanners open every link); its script asks the user first.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# What the page may load and talk to: its own scripts (and the WebAssembly of the vendored
# argon2id), images it decrypted into blob: URLs, the API and /ws/ on this origin, and presigned
# storage URLs (S3 or MinIO on another origin: any https/http origin, for the bytes of an
# attachment, which are ciphertext anyway).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self' ws: wss: http: https:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)


@require_GET
@never_cache
def client_page(request: HttpRequest, path: str = "") -> HttpResponse:
    response = render(request, "webclient/index.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    # Tokens ride in some of these URLs (verification, invitation): no Referer carries them away.
    response["Referrer-Policy"] = "no-referrer"
    return response
