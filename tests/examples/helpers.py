"""Plain helpers of the examples' tests: the checkout, and `make` as the README runs it."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def make(*targets: str, port: int) -> list[str]:
    # -o: the venv is set up already (this suite runs in it); PY: the interpreter running the suite.
    return [
        "make",
        "--no-print-directory",
        "-o",
        ".venv/.installed",
        *targets,
        f"PORT={port}",
        f"PY={sys.executable}",
    ]
