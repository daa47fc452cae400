"""A real S3 endpoint for the test session: moto's standalone server in its own process.

`s3_server` (session) starts `python -m moto.server` on a free loopback port; `s3_bucket` makes a
fresh bucket per test; `s3_storage` points Django's default storage at it with the STORAGES entry
that messenger/settings/storage.py itself builds when S3_BUCKET is set (the settings module is
executed again under those variables), so the tests exercise django-storages + boto3 exactly as configured
for MinIO or AWS.

moto speaks the S3 protocol over real HTTP but does NOT verify SigV4 signatures (nor presigned
URL expiry, nor x-amz-checksum-* headers against the body): these tests prove the S3 flow, not
the signing. Real S3 and MinIO do verify them.

Without CI_REQUIRE_REAL_SERVICES a server that cannot start skips the S3 tests; with it (CI) they
fail loudly instead.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

ACCESS_KEY = "moto-test-access-key"
SECRET_KEY = "moto-test-secret-key"  # moto accepts any credentials
REGION = "us-east-1"
START_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    process: subprocess.Popen | None = None

    def client(self) -> Any:
        """A plain boto3 client, independent of the app's storage: the tests' own eyes on S3."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def env(self, bucket: str) -> dict[str, str]:
        """The S3_* variables a process (the app, a worker, a benchmark server) reads."""
        return {
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.url,
            "S3_ACCESS_KEY": ACCESS_KEY,
            "S3_SECRET_KEY": SECRET_KEY,
            "S3_REGION": REGION,
        }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):  # noqa: S310 (loopback)
            return True
    except urllib.error.HTTPError:
        return True  # it speaks HTTP: up
    except OSError:
        return False


def start_moto_server(log_path: Path, *, attempts: int = 3) -> S3Endpoint:
    """`python -m moto.server` on a free port; polls until it answers. Raises RuntimeError."""
    last_error = "not started"
    for _ in range(attempts):
        port = free_port()  # another process may take it before moto binds: then retry
        url = f"http://127.0.0.1:{port}"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last_error = f"moto.server exited with {process.returncode}"
                break
            if _answers(url):
                return S3Endpoint(url=url, process=process)
            time.sleep(0.1)
        else:
            last_error = f"moto.server did not answer on {url} within {START_TIMEOUT_SECONDS:.0f}s"
        stop_process(process)
    tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
    raise RuntimeError(f"{last_error}\n{tail}")


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def s3_storages_setting(env: dict[str, str]) -> dict[str, Any]:
    """STORAGES["default"] as messenger/settings/storage.py builds it under these S3_* variables."""
    from django.conf import settings

    path = Path(settings.BASE_DIR) / "messenger" / "settings" / "storage.py"
    spec = importlib.util.spec_from_file_location("messenger_settings_under_s3_env", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with mock.patch.dict(os.environ, env):
        spec.loader.exec_module(module)
    return module.STORAGES["default"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    required = "fails the run" if os.environ.get("CI_REQUIRE_REAL_SERVICES") else "skips its tests"
    return [
        f"messenger: s3 tests=moto's standalone server on loopback, started on first use (if it cannot: {required})"
    ]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:  # pragma: no cover - moto[server] is in requirements-dev.txt
        _unavailable(f"moto[server] is not installed ({exc})")
    try:
        endpoint = start_moto_server(tmp_path_factory.mktemp("moto") / "moto.log")
    except RuntimeError as exc:
        _unavailable(f"moto's S3 server could not start: {exc}")
    try:
        yield endpoint
    finally:
        assert endpoint.process is not None
        stop_process(endpoint.process)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI_REQUIRE_REAL_SERVICES"):
        pytest.fail(f"CI_REQUIRE_REAL_SERVICES is set and the S3 tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def s3_bucket(s3_server: S3Endpoint) -> Iterator[str]:
    """A fresh, empty bucket per test; removed afterwards with whatever is left in it."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    client = s3_server.client()
    client.create_bucket(Bucket=name)
    yield name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)


@dataclass(frozen=True)
class S3Storage:
    endpoint: S3Endpoint
    bucket: str
    kind: str = "s3"

    def object_keys(self) -> set[str]:
        """Every object key in the bucket, read with boto3 (not through the app's storage)."""
        client = self.endpoint.client()
        found: set[str] = set()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            found.update(item["Key"] for item in page.get("Contents", []))
        return found

    def exists(self, key: str) -> bool:
        return key in self.object_keys()

    def read(self, key: str) -> bytes:
        return self.endpoint.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def head(self, key: str) -> dict[str, Any]:
        return self.endpoint.client().head_object(Bucket=self.bucket, Key=key)


@pytest.fixture
def s3_storage(settings: Any, s3_server: S3Endpoint, s3_bucket: str) -> S3Storage:
    """Django's default storage is django-storages' S3Storage on the moto server, for this test."""
    env = s3_server.env(s3_bucket)
    settings.STORAGES = {**settings.STORAGES, "default": s3_storages_setting(env)}
    settings.S3_BUCKET = s3_bucket
    return S3Storage(endpoint=s3_server, bucket=s3_bucket)
