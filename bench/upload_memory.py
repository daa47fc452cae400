"""Server memory while it receives one large upload: idle RSS, peak RSS, throughput.

    .venv/bin/python bench/upload_memory.py                       # 200 MiB, gunicorn, local and S3
    .venv/bin/python bench/upload_memory.py --storage s3 --server uvicorn --size-mib 200

A real server process (gunicorn: the production REST server, WSGI, gthread; or uvicorn/daphne:
ASGI) runs the app in the embedded mode (SQLite in a temporary folder) on local storage or on
django-storages' S3Storage against moto's standalone server (started here, as the tests do). One
user is created; a warm-up upload loads every lazily imported module; then the server's peak RSS
is reset (`/proc/<pid>/clear_refs`, 5) and its idle RSS read, a multipart body of --size-mib is
streamed from a generator (the client holds 1 MiB at a time), and the server's RSS is sampled
every 10 ms as well as read from the kernel's high-water mark (VmHWM) afterwards.

The number that matters is `peak - idle`: the issue asks it to stay under 50 MiB for 200 MiB.
Not a test: the figures depend on the machine. moto keeps objects in its own memory; only the
app server's process is measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import httpx  # noqa: E402

from tests.media.server import app_server  # noqa: E402
from tests.s3 import start_moto_server, stop_process  # noqa: E402

MIB = 1024 * 1024
BOUNDARY = "bench-boundary-7f3a9c"


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    # Linux >= 4.0: writing 5 resets the peak RSS (VmHWM) to the current RSS.
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.01)


def multipart_body(size: int, digest: hashlib._Hash) -> tuple[int, Iterator[bytes]]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    block = os.urandom(MIB)

    def chunks() -> Iterator[bytes]:
        yield head
        sent = 0
        counter = 0
        while sent < size:
            # Each MiB differs (a counter in front) so nothing downstream can deduplicate it.
            piece = (counter.to_bytes(8, "big") + block[8:])[: size - sent]
            digest.update(piece)
            sent += len(piece)
            counter += 1
            yield piece
        yield tail

    return len(head) + size + len(tail), chunks()


@dataclass
class Result:
    server: str
    storage: str
    size_mib: int
    idle_rss_mib: float
    peak_rss_mib: float
    growth_mib: float
    seconds: float
    throughput_mb_s: float
    status: int
    sha256_ok: bool


def run_once(kind: str, storage: str, size_mib: int, extra_env: dict[str, str], work: Path) -> Result:
    env = {"MEDIA_MAX_UPLOAD_BYTES": str(size_mib * MIB + MIB), **extra_env}
    with app_server(kind, work / f"{kind}-{storage}", extra_env=env) as server:
        pid = server.serving_pid
        headers = {
            "Authorization": f"Bearer {server.token}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        }
        with httpx.Client(base_url=server.url, timeout=600) as client:
            for _ in range(2):  # warm-up: imports, the storage client, the DB connection
                length, body = multipart_body(2 * MIB, hashlib.sha256())
                warm = client.post(
                    "/api/v1/media/upload", content=body, headers={**headers, "Content-Length": str(length)}
                )
                assert warm.status_code == 201, warm.text
            time.sleep(1.0)
            idle = rss_kib(pid)
            reset_peak(pid)
            sampler = Sampler(pid)
            sampler.start()
            digest = hashlib.sha256()
            length, body = multipart_body(size_mib * MIB, digest)
            started = time.monotonic()
            response = client.post(
                "/api/v1/media/upload", content=body, headers={**headers, "Content-Length": str(length)}
            )
            seconds = time.monotonic() - started
            sampler.stop.set()
            sampler.join()
            peak = max(sampler.peak, rss_kib(pid, "VmHWM"))
    ok = response.status_code == 201 and response.json().get("sha256") == digest.hexdigest()
    return Result(
        server=kind,
        storage=storage,
        size_mib=size_mib,
        idle_rss_mib=round(idle / 1024, 1),
        peak_rss_mib=round(peak / 1024, 1),
        growth_mib=round((peak - idle) / 1024, 1),
        seconds=round(seconds, 2),
        throughput_mb_s=round(size_mib * MIB / seconds / 1e6, 1),
        status=response.status_code,
        sha256_ok=ok,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", choices=["gunicorn", "uvicorn", "daphne"], action="append")
    parser.add_argument("--storage", choices=["local", "s3"], action="append")
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="an extra variable for the server"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="upload-memory-"))
    moto = None
    results = []
    try:
        s3_env: dict[str, str] = {}
        if "s3" in (args.storage or ["local", "s3"]):
            moto = start_moto_server(work / "moto.log")
            bucket = "bench-media"
            moto.client().create_bucket(Bucket=bucket)
            s3_env = moto.env(bucket)
        extra = dict(item.split("=", 1) for item in args.set)
        for kind in args.server or ["gunicorn"]:
            for storage in args.storage or ["local", "s3"]:
                env = {**(s3_env if storage == "s3" else {}), **extra}
                result = run_once(kind, storage, args.size_mib, env, work)
                results.append(result)
                print(json.dumps(result.__dict__), flush=True)
    finally:
        if moto is not None and moto.process is not None:
            stop_process(moto.process)
        if args.keep:
            print(f"logs in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'server':9} {'storage':7} {'size':>6} {'idle':>8} {'peak':>8} {'growth':>8} {'MB/s':>7}  sha256")
    for r in results:
        print(
            f"{r.server:9} {r.storage:7} {r.size_mib:4}Mi {r.idle_rss_mib:6.1f}Mi {r.peak_rss_mib:6.1f}Mi "
            f"{r.growth_mib:6.1f}Mi {r.throughput_mb_s:7.1f}  {'ok' if r.sha256_ok else 'MISMATCH ' + str(r.status)}"
        )


if __name__ == "__main__":
    main()
