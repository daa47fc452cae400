"""A logging filter that keeps WebSocket credentials out of server logs.

uvicorn and daphne log each handshake with its query string (`/ws/?ticket=...`). A ticket is
single-use, but a log line is read by more people than the server's operators should trust with
a live credential, so the value is replaced before any handler sees it.
"""

from __future__ import annotations

import logging
import re

_CREDENTIAL = re.compile(r"\b(ticket|token|access_token|jwt)=([^&\s\"']+)", re.IGNORECASE)


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _CREDENTIAL.sub(r"\1=[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
