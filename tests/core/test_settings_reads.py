"""Each environment variable is read once by the settings (issue 17): one place decides each value,
however many settings derive from it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# In a fresh interpreter: count every read through django-environ (every `env.<cast>(...)` goes
# through Env.get_value), then load the settings as Django does.
COUNT_READS = """
import collections, json, environ
reads = collections.Counter()
get_value = environ.Env.get_value
def counting(self, var, *args, **kwargs):
    reads[var] += 1
    return get_value(self, var, *args, **kwargs)
environ.Env.get_value = counting
import messenger.settings
print(json.dumps(reads))
"""

SECRET = "a-real-secret-key-for-this-test-only-0123456789abcdef"
EMBEDDED = {"DEBUG": "1"}
REAL = {
    "SECRET_KEY": SECRET,
    "ALLOWED_HOSTS": "chat.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS": "7.5",
    "CHANNEL_LAYER_MAX_CONNECTIONS": "20",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
    "S3_BUCKET": "media",
    "EMAIL_URL": "smtp://mail.example.com:25",
}


@pytest.mark.parametrize("mode", [EMBEDDED, REAL], ids=["embedded", "real"])
def test_every_environment_variable_is_read_once(mode, tmp_path):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}
    }
    environment.update(mode, VAR_DIR=str(tmp_path))
    run = subprocess.run(
        [sys.executable, "-c", COUNT_READS],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    reads = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"DEBUG", "REDIS_URL", "DATABASE_URL", "MEDIA_URL_TTL_SECONDS", "RELAY_STORE"} <= set(reads)
    assert {name: count for name, count in reads.items() if count > 1} == {}
