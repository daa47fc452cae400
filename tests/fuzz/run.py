"""`make fuzz`: schemathesis, every check, over every operation of a real-mode server.

    .venv/bin/python -m tests.fuzz.run [--max-examples N] [--max-time SECONDS] [--phases ...]

1. (Re)creates the PostgreSQL database FUZZ_DATABASE (default `messenger_fuzz`) and migrates it.
2. Starts uvicorn on a free loopback port against it and REDIS_URL (default db 0, keys under a
   prefix of this run's own), throttles lifted (each THROTTLE_* set very high), Celery eager.
3. Seeds, through the API itself: users with tokens, contacts (accepted, pending), groups,
   1:1 and group messages, media, relay envelopes, prekeys, an invitation
   (tests/fuzz/seed.py), and writes their ids to a JSON file.
4. Runs `schemathesis run --checks all` with tests/fuzz/hooks.py, which puts the seeded ids and
   the Bearer token into the generated requests, so each operation gets past 401/404 to its own
   logic (and creates a fresh object for the operations that delete or give one away).
5. Prints the counts (cases, failures by check) from schemathesis' JSON report, stops the server
   and exits non-zero when any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg
import redis
import requests

from tests.s3 import start_moto_server, stop_process

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
THROTTLES = [
    "THROTTLE_LOGIN_IP",
    "THROTTLE_LOGIN_ACCOUNT",
    "THROTTLE_REGISTER_IP",
    "THROTTLE_REGISTER_ACCOUNT",
    "THROTTLE_KEYS_CLAIM",
    "THROTTLE_KEYS_BACKUP",
    "THROTTLE_USER_DEFAULT",
    "THROTTLE_MESSAGE_SEND",
    "THROTTLE_INVITATION_SEND",
    "THROTTLE_WS_TICKET",
    "THROTTLE_PRESENCE",
    "THROTTLE_RELAY_QUEUE",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _recreate_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _run_id() -> str:
    """Every Redis key of this run starts with it (deleted when the run ends)."""
    return f"fuzz-{os.getpid()}"


def _delete_run_keys(redis_url: str) -> None:
    """Leave Redis as the run found it: the server's cache, relay, presence and layer keys."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{_run_id()}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def _server_env(args: argparse.Namespace, var_dir: Path, port: int) -> dict[str, str]:
    run_id = _run_id()
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.pg}/{args.database}",
        "REDIS_URL": args.redis,
        # A prefix of this run's own: other runs' counters, relay queues and presence never mix in.
        "CACHE_KEY_PREFIX": run_id,
        "RELAY_REDIS_PREFIX": f"{run_id}-relay",
        "REALTIME_PRESENCE_REDIS_PREFIX": f"{run_id}-presence",
        "CHANNEL_LAYER_PREFIX": f"{run_id}-asgi",
        # Tasks (emails, thumbnails) run in the server: no worker of another run picks them up.
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "VAR_DIR": str(var_dir),
        "JWT_ACCESS_MINUTES": "60",  # the caller's token outlives the run
        # Emails as files: the seeder reads an invitation's token from its email.
        "EMAIL_URL": f"filemail:///{var_dir / 'mail'}",  # 4 slashes: an absolute path
    }
    for name in THROTTLES:
        env[name] = "1000000/s"  # the fuzzer is one client sending thousands of requests
    return env


def _wait_until_up(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"fuzz: the server exited with {server.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit("fuzz: the server did not come up")


# schemathesis' failure types, by the check that raises them (`--checks all`).
CHECKS = {
    "not_a_server_error": ("ServerError", "ContentTypeServerError"),
    "status_code_conformance": ("UndefinedStatusCode",),
    "content_type_conformance": ("MissingContentType", "UndefinedContentType", "MalformedMediaType"),
    "response_headers_conformance": ("MissingHeaders",),
    "response_schema_conformance": (
        "JsonSchemaError",
        "MalformedJson",
        "ContentDeserializationError",
        "DiscriminatorMismatch",
    ),
    "negative_data_rejection": ("AcceptedNegativeData",),
    "positive_data_acceptance": ("RejectedPositiveData",),
    "missing_required_header": ("MissingHeaderNotRejected",),
    "unsupported_method": ("UnsupportedMethodResponse",),
    "allow_header_conformance": ("AllowHeaderMismatch",),
    "use_after_free": ("UseAfterFree",),
    "ensure_resource_availability": ("EnsureResourceAvailability",),
    "ignored_auth": ("IgnoredAuth",),
    "object_level_authorization": ("ObjectLevelAuthorizationViolation",),
}


def summarize(report: dict) -> tuple[int, dict[str, int], int]:
    """(cases, unique failures by check, operations tested) from schemathesis' JSON report."""
    by_type: Counter = Counter()
    for failure in report["failures"]:
        by_type[failure["type"]] += failure["count"]
    failures = {check: sum(by_type.pop(kind, 0) for kind in kinds) for check, kinds in CHECKS.items()}
    failures.update(by_type)  # a type not listed above still counts
    return report["test_cases"]["generated"], failures, report["operations"]["tested"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-examples", type=int, default=50, help="cases per operation and phase")
    parser.add_argument("--max-time", type=int, default=240, help="seconds for schemathesis, at most")
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    # One worker: with two, schemathesis parses hypothesis' lambdas from two threads, which trips
    # CPython 3.11's "AST constructor recursion depth mismatch" (a SystemError the run reports as
    # an error) now and then; one worker ran more cases in the same 45 s here (1,428 vs 1,356).
    parser.add_argument("--workers", default="1")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--include-path-regex", default=None)
    parser.add_argument("--pg", default=os.environ.get("FUZZ_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default=os.environ.get("FUZZ_DATABASE", "messenger_fuzz"))
    parser.add_argument("--redis", default=os.environ.get("FUZZ_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--report-dir", default=str(ROOT / "var" / "fuzz"))
    args = parser.parse_args()

    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    var_dir = Path(tempfile.mkdtemp(prefix="messenger-fuzz-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _server_env(args, var_dir, port)

    # S3-compatible storage (moto's server), as production has: direct uploads and presigned
    # downloads exist only there (the local storage answers `direct_upload_unavailable`).
    s3 = start_moto_server(report_dir / "moto.log")
    server: subprocess.Popen | None = None
    log = (report_dir / "server.log").open("w")
    try:
        bucket = "fuzz-media"
        s3.client().create_bucket(Bucket=bucket)
        env.update(s3.env(bucket))
        print(f"fuzz: database {args.database}, redis {args.redis}, S3 {s3.url}, server {base}", flush=True)
        _recreate_database(f"{args.pg}/postgres", args.database)
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        server = subprocess.Popen(
            [
                *(PYTHON, "-m", "uvicorn", "messenger.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
                *("--no-access-log", "--log-level", "warning"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_until_up(base, server)
        from tests.fuzz.seed import seed

        fixtures = seed(base, var_dir / "mail")
        fixtures_path = report_dir / "fixtures.json"
        fixtures_path.write_text(json.dumps(fixtures, indent=1))
        print(f"fuzz: seeded {fixtures_path}", flush=True)

        report = report_dir / "report.json"
        report.unlink(missing_ok=True)
        command = [
            str(Path(PYTHON).with_name("schemathesis")),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{base}/api/schema/?format=json",
            "--checks",
            "all",
            "--phases",
            args.phases,
            "--max-examples",
            str(args.max_examples),
            "--max-time",
            str(args.max_time),
            "--workers",
            args.workers,
            "--request-timeout",
            "20",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--report-dir",
            str(report_dir),
            "--no-color",
            "--suppress-health-check",
            "all",
            "--continue-on-failure",
        ]
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        if args.include_path_regex:
            command += ["--include-path-regex", args.include_path_regex]
        fuzz_env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
            "FUZZ_FIXTURES": str(fixtures_path),
            "FUZZ_BASE_URL": base,
            "PYTHONPATH": str(ROOT),
            **({"FUZZ_SEED": str(args.seed)} if args.seed is not None else {}),
        }
        print("fuzz: " + " ".join(command), flush=True)
        result = subprocess.run(command, cwd=ROOT, env=fuzz_env)
        data = json.loads(report.read_text())
        cases, failures, operations = summarize(data)
        errors = sum(error["count"] for error in data["errors"])
        print(f"fuzz: operations exercised: {operations} of {data['operations']['total']}")
        # An operation whose valid requests all stopped at 404 (or 401) never ran its own logic.
        accepted = {
            label: sum(phase["accepted"] for phase in rates.values())
            for label, rates in data["valid_rates"].items()
        }
        never = sorted(label for label, count in accepted.items() if not count)
        print(
            f"fuzz: operations with a valid request answered 2xx: {len(accepted) - len(never)} of {len(accepted)}"
        )
        if never:
            print("fuzz: never 2xx: " + ", ".join(never))
        print(f"fuzz: cases: {cases}; errors (schemathesis' own): {errors}")
        print("fuzz: failures by check: " + ", ".join(f"{k}={v}" for k, v in failures.items()))
        print(f"fuzz: schemathesis exit code {result.returncode}; server log {report_dir / 'server.log'}")
        return result.returncode
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        if s3.process is not None:
            stop_process(s3.process)
        log.close()
        shutil.rmtree(var_dir, ignore_errors=True)  # the server's media and emails of this run
        _delete_run_keys(args.redis)


if __name__ == "__main__":
    sys.exit(main())
