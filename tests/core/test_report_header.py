"""The pytest header names the database the tests use, not the development one (issue 16)."""

import os
import re
import subprocess
import sys

import environ
from django.conf import settings


def development_database_name() -> str:
    """What messenger.settings names, read as it reads it (pytest-django renames the live one)."""
    default = f"sqlite:///{settings.VAR_DIR / 'db.sqlite3'}"
    return str(environ.Env().db_url("DATABASE_URL", default=default)["NAME"])


def test_the_header_names_the_test_database_not_the_development_one():
    # A pytest of its own, collecting only: the header as a run prints it, before any database.
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-p",
            "no:cacheprovider",
            "tests/core/test_report_header.py",
        ],
        cwd=settings.BASE_DIR,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    (line,) = [line for line in run.stdout.splitlines() if line.startswith("messenger: test database")]
    name = re.search(r" name=(\S+) ", line).group(1)
    development = development_database_name()
    assert name != development
    if settings.DATABASES["default"]["TEST"].get("NAME"):
        assert name == settings.DATABASES["default"]["TEST"]["NAME"]
    elif settings.DATABASE_VENDOR == "sqlite":
        assert "memory" in name  # pytest-django's in-memory SQLite
    else:
        assert name == f"test_{development}"
