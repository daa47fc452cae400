"""Email: EMAIL_URL's SMTP server, else the console; where the links in emails point."""

from messenger.settings.environment import env

_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
for _key in ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_FILE_PATH"):
    if _email.get(_key):
        globals()[_key] = _email[_key]
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Messenger <no-reply@localhost>")
# Where links in emails point (verification, invitations, reminders): the web client's origin.
# This server serves the web client (webclient/), so the default is the server's own address as
# `make run` serves it (HOST and PORT, which the Makefile passes on).
_PUBLIC_HOST = env.str("HOST", default="127.0.0.1")
if _PUBLIC_HOST in {"0.0.0.0", "::", ""}:  # noqa: S104 (listening on every interface: link to loopback)
    _PUBLIC_HOST = "127.0.0.1"
FRONTEND_URL = env.str("FRONTEND_URL", default=f"http://{_PUBLIC_HOST}:{env.int('PORT', default=8000)}")
