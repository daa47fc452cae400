"""The production guard: with DEBUG off the process refuses a development configuration."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "a-real-secret-key-for-this-test-only-0123456789abcdef"


def start_django(**overrides: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(DJANGO_SETTINGS_MODULE="messenger.settings", **overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_refuses_default_secret_key_with_debug_off():
    result = start_django(ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0
    assert "Refusing to start with DEBUG off: set SECRET_KEY" in result.stderr
    assert "started" not in result.stdout


def test_refuses_short_secret_key():
    result = start_django(SECRET_KEY="short", ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_refuses_empty_allowed_hosts_with_debug_off():
    result = start_django(SECRET_KEY=GOOD_SECRET)
    assert result.returncode != 0
    assert "set ALLOWED_HOSTS" in result.stderr


def test_starts_with_a_production_configuration():
    result = start_django(SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="chat.example.com")
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_debug_mode_starts_on_defaults():
    result = start_django(DEBUG="1")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("debug", ["0"])
def test_check_deploy_is_clean_with_production_settings(debug):
    environment = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}}
    environment.update(DEBUG=debug, SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="chat.example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
