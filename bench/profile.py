"""Where a workload's server CPU goes: py-spy sampling every serving process while the workload
runs (`bench/run.py --profile`), summarised as the functions that hold the most on-CPU samples.

What a missed target is made of, next to the figure that missed it (issue 15's "Must show": for a
goal not met, the profile that shows what stands in the way). A profiled run's figures are not
the day's figures: sampling costs the servers a little CPU; the results file says so.

py-spy (requirements-dev.txt) reads another process's memory: it needs ptrace rights over the
servers (root, or the same user with kernel.yama.ptrace_scope 0). It samples at PROFILE_RATE Hz
and drops idle samples itself (a thread waiting in a system call, or for the GIL); the few waits
it still counts (a condition variable's wait in a pool thread, a selector's poll) are dropped
here by their leaf frame, so the shares are shares of CPU.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Samples a second per process, read without stopping it (--nonblocking: py-spy otherwise pauses
# the process for each sample, which at 250 Hz over five processes tripled a send's latency).
PROFILE_RATE = 100

# Leaves that are a thread waiting, not running (py-spy's idle detection misses some of them).
_WAITING_LEAVES = (
    "(threading.py)",  # Condition.wait, Event.wait, Thread.join
    "(queue.py)",  # a pool thread waiting for work
    "_worker (futures/thread.py)",
    "(selectors.py)",  # an event loop or gunicorn waiting for a socket
    "accept (socket.py)",
    "Runner.run (asyncio/runners.py)",  # the event loop in epoll_wait (a C frame py-spy does not name)
)

# Leaves that wait for a reply on a blocking socket: not CPU, but the request's wall time; counted
# apart so that the table shows CPU and the note says how long the worker sat waiting.
_REPLY_WAITS = {
    "Connection.wait (psycopg/connection.py)": "PostgreSQL",
    "SocketBuffer._read_from_socket (_parsers/socket.py)": "Redis",
}

# Frames that are only plumbing around the work (every request passes through them): left out of
# the table so that it shows where the time goes, not how a request got there.
_PLUMBING = (
    "<module>",
    "_run_module_as_main",
    "_run_code",
    "Thread._bootstrap",
    "Thread.run",
    "_worker (futures",
    "_WorkItem.run",
    "Arbiter.",
    "SyncWorker.",
    "ThreadWorker.",
    "run (app/wsgiapp.py)",
    "Application.run",
    "BaseApplication.run",
    "Worker.init_process",
    "Command.",
    "Context.invoke",
    "main (uvicorn",
    "run (uvicorn",
    "Server.run",
    "asyncio_run",
    "Runner.run",
    "BaseEventLoop.run_",
    "Handle._run",
    "MiddlewareMixin.__call__",
    "convert_exception_to_response",
)


@dataclass
class Sampled:
    """One process's samples while a workload ran."""

    name: str  # e.g. "gunicorn worker 1234"
    raw: Path


class Profiler:
    """`with Profiler(work, "send") as profiler: profiler.attach(name, pid) ...; profiler.summary()`"""

    def __init__(self, work: Path, label: str) -> None:
        self.work = work
        self.label = label
        self.runs: list[tuple[subprocess.Popen[bytes], Sampled]] = []

    @staticmethod
    def available() -> str | None:
        beside = Path(sys.executable).parent / "py-spy"  # the venv's, whether or not it is on PATH
        return str(beside) if beside.exists() else shutil.which("py-spy")

    def attach(self, name: str, pid: int) -> None:
        executable = self.available()
        if executable is None:
            raise RuntimeError("--profile needs py-spy (requirements-dev.txt: `make setup`)")
        raw = self.work / f"profile-{self.label}-{pid}.txt"
        process = subprocess.Popen(
            [
                executable,
                "record",
                "--nonblocking",
                "-p",
                str(pid),
                "-r",
                str(PROFILE_RATE),
                "-f",
                "raw",
                "-o",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.runs.append((process, Sampled(name=name, raw=raw)))

    def __enter__(self) -> Profiler:
        return self

    def __exit__(self, *exc: object) -> None:
        for process, _ in self.runs:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for process, _ in self.runs:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def summary(self, top: int = 14) -> list[str]:
        """Markdown: per process kind, its on-CPU seconds and the functions holding most of them
        (inclusive: a function's share counts the functions it calls)."""
        by_kind: dict[str, list[Sampled]] = collections.defaultdict(list)
        for _, one in self.runs:
            by_kind[one.name.rsplit(" ", 1)[0]].append(one)
        lines: list[str] = []
        for kind, sampled in by_kind.items():
            inclusive, leaves, waits, projects, total = _aggregate([s.raw for s in sampled])
            if total == 0:
                lines += [f"- {kind}: no samples", ""]
                continue
            ranked = inclusive.most_common()
            own = [(frame, count) for frame, count in ranked if frame in projects]
            others = [(frame, count) for frame, count in ranked if frame not in projects]
            waited = ", ".join(f"{what} {count / PROFILE_RATE:.1f} s" for what, count in waits.most_common())
            lines += [
                f"**{kind}** ({len(sampled)} process(es)): {total / PROFILE_RATE:.1f} s of CPU sampled"
                + (f"; besides, waiting for a reply: {waited}" if waited else ""),
                "",
                "| share of CPU | the project's functions (inclusive: with what they call) |",
                "|---:|---|",
                *[f"| {count / total:.0%} | `{frame}` |" for frame, count in own[:top]],
                "",
                "| share of CPU | libraries' functions (inclusive) |",
                "|---:|---|",
                *[f"| {count / total:.0%} | `{frame}` |" for frame, count in others[:top]],
                "",
                "| share of CPU | where it is spent (leaf) |",
                "|---:|---|",
                *[f"| {count / total:.0%} | `{frame}` |" for frame, count in leaves.most_common(8)],
                "",
            ]
        return lines


def _frame_name(frame: str) -> str:
    """'func (path/to/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py)': a function, any line."""
    function, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    parts = path.split("/")
    return f"{function} ({'/'.join(parts[-2:])})"


# The project's own top-level packages (py-spy names a file by its path under sys.path).
_PROJECT = {
    path.name for path in Path(__file__).resolve().parent.parent.iterdir() if (path / "__init__.py").exists()
}


def _is_project(raw_frame: str) -> bool:
    """A frame of the project's own code, not an installed package's or the standard library's."""
    path = raw_frame.partition(" (")[2]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            return False
    if "/work/" in path:  # an absolute path: the part under the checkout
        path = path.split("/", 4)[-1]
    return path.split("/", 1)[0] in _PROJECT - {"bench"}


def _aggregate(
    paths: list[Path],
) -> tuple[collections.Counter[str], collections.Counter[str], collections.Counter[str], set[str], int]:
    """Inclusive counts per function, leaf counts, reply waits, which functions are the
    project's, and the CPU samples in all."""
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    waits: collections.Counter[str] = collections.Counter()
    projects: set[str] = set()
    total = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text(errors="replace").splitlines():
                stack, _, count_text = line.rpartition(" ")
                if not stack or not count_text.isdigit():
                    continue
                raw_frames = [frame for frame in stack.split(";") if frame]
                frames = [_frame_name(frame) for frame in raw_frames]
                projects.update(
                    name for name, raw in zip(frames, raw_frames, strict=True) if _is_project(raw)
                )
                if not frames or any(waiting in frames[-1] for waiting in _WAITING_LEAVES):
                    continue
                count = int(count_text)
                if frames[-1] in _REPLY_WAITS:
                    waits[_REPLY_WAITS[frames[-1]]] += count
                    continue
                total += count
                leaves[frames[-1]] += count
                for frame in set(frames):
                    if not frame.startswith(_PLUMBING):
                        inclusive[frame] += count
    return inclusive, leaves, waits, projects, total
