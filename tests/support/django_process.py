"""Django started in a fresh interpreter on the project's own settings, for tests of what the
settings module accepts or refuses (the test run's settings are not inherited)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "a-real-secret-key-for-this-test-only-0123456789abcdef"


def start_django(
    code: str = "import django; django.setup(); print('started')", **overrides: str
) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter on messenger.settings, with only `overrides` of the settings
    the test is about (none of the test run's own)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "SECRET_KEY", "JWT_SIGNING_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(DJANGO_SETTINGS_MODULE="messenger.settings", **overrides)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
