"""The production guard: with DEBUG off the process refuses a development configuration."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "a-real-secret-key-for-this-test-only-0123456789abcdef"


def start_django(
    code: str = "import django; django.setup(); print('started')", **overrides: str
) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter on messenger.settings, with only `overrides` of the settings
    this file is about (none of the test run's own)."""
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


def test_refuses_default_secret_key_with_debug_off():
    result = start_django(ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0
    assert "Refusing to start with DEBUG off: set SECRET_KEY" in result.stderr
    assert "started" not in result.stdout


@pytest.mark.parametrize("key", ["short", "x" * 32, "k" * 49])
def test_refuses_a_secret_key_under_50_characters(key):
    result = start_django(SECRET_KEY=key, ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "started" not in result.stdout


def test_refuses_the_placeholder_key_of_the_deploy_example():
    example = (ROOT / "deploy" / "messenger.env.example").read_text()
    placeholder = next(
        line.split("=", 1)[1] for line in example.splitlines() if line.startswith("SECRET_KEY=")
    )
    result = start_django(SECRET_KEY=placeholder, ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0
    assert "placeholder" in result.stderr


def test_refuses_a_short_jwt_signing_key():
    result = start_django(SECRET_KEY=GOOD_SECRET, JWT_SIGNING_KEY="short", ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY" in result.stderr


def test_the_test_settings_key_passes_the_guard():
    from django.conf import settings

    assert len(settings.SECRET_KEY) >= 50


def test_refuses_empty_allowed_hosts_with_debug_off():
    result = start_django(SECRET_KEY=GOOD_SECRET)
    assert result.returncode != 0
    assert "set ALLOWED_HOSTS" in result.stderr


def test_starts_with_a_production_configuration():
    result = start_django(SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="chat.example.com")
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_debug_mode_starts_on_defaults(tmp_path):
    result = start_django(DEBUG="1", VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr


PRINT_KEYS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.SECRET_KEY); print(settings.SIMPLE_JWT['SIGNING_KEY'])"
)


def debug_keys(var_dir: Path, *, secret_key: str | None = None) -> list[str]:
    overrides = {"DEBUG": "1", "VAR_DIR": str(var_dir)}
    if secret_key is not None:
        overrides["SECRET_KEY"] = secret_key
    result = start_django(PRINT_KEYS, **overrides)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_debug_without_secret_key_signs_with_a_random_key_of_this_installation(tmp_path):
    """No key from the repository: each installation makes its own, once, readable by its owner."""
    first_install, second_install = tmp_path / "one", tmp_path / "two"
    secret, signing = debug_keys(first_install)
    assert signing == secret
    assert len(secret) >= 50
    key_file = first_install / "secret_key"
    assert key_file.read_text().strip() == secret
    assert key_file.stat().st_mode & 0o777 == 0o600
    # Reused on the next start (sessions survive a restart), different on another installation.
    assert debug_keys(first_install)[0] == secret
    assert debug_keys(second_install)[0] != secret
    # Nothing in the repository is that key.
    for module in (ROOT / "messenger" / "settings").glob("*.py"):
        assert secret not in module.read_text()


def test_debug_with_a_secret_key_uses_it_and_writes_no_file(tmp_path):
    assert debug_keys(tmp_path, secret_key=GOOD_SECRET)[0] == GOOD_SECRET
    assert not (tmp_path / "secret_key").exists()


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
