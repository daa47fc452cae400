"""Fixtures for the gateway's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_channel_locks(fresh_channel_locks):
    """Every test here opens sockets: tests/support/gateway.py says why the locks are dropped."""
    yield
