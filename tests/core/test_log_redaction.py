"""Server log lines never carry a WebSocket ticket or token."""

import logging

from django.conf import settings

from core.logging import RedactCredentials


def test_a_handshake_line_loses_its_ticket():
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/ws/?ticket=SECRETticket123&v=1"),
        None,
    )
    assert RedactCredentials().filter(record)
    line = record.getMessage()
    assert "SECRETticket123" not in line
    assert line == '127.0.0.1:5000 - "WebSocket /ws/?ticket=[redacted]&v=1" [accepted]'


def test_lines_without_credentials_are_untouched():
    record = logging.LogRecord("daphne", logging.INFO, __file__, 1, "GET %s %s", ("/healthz", 200), None)
    assert RedactCredentials().filter(record)
    assert (record.msg, record.args) == ("GET %s %s", ("/healthz", 200))


def test_the_servers_loggers_go_through_the_filter():
    config = settings.LOGGING
    assert "redact_credentials" in config["handlers"]["console"]["filters"]
    for name in ("uvicorn.error", "uvicorn.access", "daphne"):
        assert config["loggers"][name]["handlers"] == ["console"]
