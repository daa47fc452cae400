"""Fault injection under load, and a soak (issue 20). See bench/README.md, "Faults".

    .venv/bin/python -m bench.faults run kill-asgi          # one scenario, about 2 minutes
    .venv/bin/python -m bench.faults run all                 # every scenario, one after another
    .venv/bin/python -m bench.faults smoke                   # CI: kill-asgi + stop-postgres, short
    .venv/bin/python -m bench.faults soak --minutes 30       # memory and fds of every process
    .venv/bin/python -m bench.faults list

Each run starts its own PostgreSQL, two Redis, moto's S3 and the app (gunicorn, two uvicorn, a
Celery worker and beat) on free loopback ports under a temporary directory, drives the steady
load for --before seconds, injects the fault, keeps the load on for --after seconds, stops the
load (in-flight sends finish their retries), checks the accounting (bench/faults/accounting.py),
stops everything and deletes the directory. Exit 1 when an accounting check fails.

Results: bench/results/faults-<date>/<scenario>.json, gathered into bench/results/faults-<date>.md
(rewritten after each run, so the file holds the last run of every scenario that day).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.faults import accounting
from bench.faults.cluster import Cluster, start_cluster
from bench.faults.load import LOGIN_PASSWORD, SEED, USERS, Ledger, Load, World
from bench.faults.scenarios import SCENARIOS
from bench.run import BASE_DIR, manage

RESULTS = BASE_DIR / "bench" / "results"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def seed(cluster: Cluster) -> World:
    output = manage(
        cluster.env,
        "shell",
        "-c",
        SEED,
        extra={
            "FAULTS_USERS": str(USERS),
            "FAULTS_RUN": uuid.uuid4().hex[:6],
            "FAULTS_PASSWORD": LOGIN_PASSWORD,
        },
    )
    data = json.loads(output.strip().splitlines()[-1])
    return World(
        rest_url=cluster.gunicorn.url,
        ws_urls=[app.ws_url for app in cluster.asgi],
        ids=data["ids"],
        tokens=data["tokens"],
        group=data["group"],
        login=data["login"],
    )


async def account_for(
    cluster: Cluster, client: httpx.AsyncClient, world: World, ledger: Ledger, since: dict[int, str]
) -> accounting.Accounting:
    """Every check of a run's accounting, in order (a fault scenario's and the soak's)."""
    result = accounting.Accounting()
    accounting.check_answers(result, ledger.answers)
    await accounting.check_messages(result, client, world, ledger, since)
    await accounting.check_emails(result, cluster.postgres.url, cluster.mail_dir(), ledger)
    accounting.check_media(result, cluster.postgres.url, bucket_keys(cluster), ledger)
    await asyncio.to_thread(
        accounting.check_purge, result, cluster.env, cluster.postgres.url, lambda: bucket_keys(cluster)
    )
    await accounting.check_relay(result, client, world, ledger)
    return result


def bucket_keys(cluster: Cluster) -> set[str]:
    client = cluster.moto.client()
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=cluster.bucket):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


async def run_scenario(
    names: list[str], before: float, after: float, seconds: float | None, pace: float
) -> dict:
    """One cluster and one load; the faults of `names` one after another, `after` seconds of load
    following each (the smoke runs two in one cluster); then the accounting of the whole run."""
    scenarios = [SCENARIOS[name] for name in names]
    label = "+".join(names)
    began = time.monotonic()

    def say(message: str) -> None:
        print(f"[{label} {time.monotonic() - began:5.1f}s] {message}", flush=True)

    # No "+" in the path: EMAIL_URL carries it, and a URL reads "+" as a space.
    work = Path(tempfile.mkdtemp(prefix=f"faults-{'_'.join(names)}-"))
    work.chmod(0o755)  # postgres (the user) reaches its directory inside
    say(f"starting the cluster under {work}")
    cluster = await start_cluster(
        work, redis_aof=any(s.redis_aof for s in scenarios), spool_tmpfs=any(s.spool_tmpfs for s in scenarios)
    )
    try:
        world = await asyncio.to_thread(seed, cluster)
        async with httpx.AsyncClient(base_url=world.rest_url, trust_env=False, timeout=30) as client:
            since = await accounting.sync_tokens(client, world)
            ledger = Ledger()
            load = Load(world, ledger, pace=pace)
            load.start()
            say(f"load on; the first fault in {before:.0f} s")
            await asyncio.sleep(before)
            for scenario in scenarios:
                fault_seconds = scenario.seconds if seconds is None else seconds
                say(f"injecting: {scenario.what} ({fault_seconds:g} s)")
                start, end = await scenario.inject(cluster, ledger, fault_seconds)
                ledger.faults.append((scenario.name, start, end))
                say(f"fault over after {end - start:.1f} s; load for {after:.0f} s more")
                await asyncio.sleep(after)
            await load.stop()
            say("load stopped; accounting")
            result = await account_for(cluster, client, world, ledger, since)
        say("accounting done")
        faults = []
        for name, start, end in ledger.faults:
            # A feature's answers once the next fault began belong to that one.
            later = [s for _, s, _ in ledger.faults if s > start]
            answers = [a for a in ledger.answers if not later or a.t < min(later)]
            windows = accounting.feature_windows(answers, start, end)
            faults.append(
                {
                    "name": name,
                    "what": SCENARIOS[name].what,
                    "fault": [round(start, 1), round(end, 1)],
                    "features": [{**asdict(w), "kept_working": w.kept_working} for w in windows],
                }
            )
        return {
            "scenario": label,
            "what": "; then ".join(s.what for s in scenarios),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_seconds": round(ledger.now(), 1),
            "fault": faults[0]["fault"],
            "faults": faults,
            "reconnects": ledger.reconnects,
            "accounting": {**asdict(result), "clean": result.clean},
            "features": faults[0]["features"],
            "failures": [
                [round(a.t, 2), a.feature, a.status, a.what]
                for a in ledger.answers
                if not a.ok and a.t >= ledger.faults[0][1]
            ][:400],
        }
    finally:
        cluster.stop()
        await cluster.gate.close()
        if os.environ.get("FAULTS_KEEP"):
            say(f"kept {work} (FAULTS_KEEP)")
        else:
            shutil.rmtree(work, ignore_errors=True)


def save(outcome: dict) -> Path:
    directory = RESULTS / f"faults-{today()}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{outcome['scenario']}.json").write_text(json.dumps(outcome, indent=2) + "\n")
    return write_report(directory)


def write_report(directory: Path) -> Path:
    from bench.faults.report import render

    path = RESULTS / f"{directory.name}.md"
    path.write_text(render(directory))
    return path


def summary(outcome: dict) -> str:
    a = outcome["accounting"]
    lines = [
        f"[{outcome['scenario']}] sends {a['sent']}, acknowledged {a['acknowledged']}, delivered "
        f"{a['delivered']}/{a['expected']}, lost {a['lost']}, duplicates {a['duplicates']}, "
        f"out of order {a['out_of_order']}; 5xx {a['server_errors']} (not 503: {len(a['not_503'])}, "
        f"no Retry-After: {a['no_retry_after']}); emails once {a['emails_sent_once']}/{a['emails_invited']}; "
        f"media rows {a['media_rows']} objects {a['media_objects']} problems {len(a['media_problems'])}; "
        f"relay {a['relay_delivered']}/{a['relay_queued']}, offline kept {a['relay_offline_kept']}/"
        f"{a['relay_offline_queued']}; live missed {a['live_missed']}",
        *(
            f"  {fault['name']}: "
            + ", ".join(
                f"{f['feature']} {f['kept_working']}"
                + (
                    " never back"
                    if f["never_recovered"]
                    else f" (+{f['down_after']:.1f}s)"
                    if f["down_after"] is not None
                    else ""
                )
                for f in fault["features"]
            )
            for fault in outcome["faults"]
        ),
        f"  {'CLEAN' if a['clean'] else 'PROBLEMS: ' + '; '.join((a['problems'] + a['not_503'] + a['emails_problems'] + a['media_problems'])[:8])}",
    ]
    return "\n".join(lines)


class Interrupted(BaseException):
    pass


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one scenario (or all)")
    run.add_argument("scenario", choices=[*SCENARIOS, "all"])
    run.add_argument("--before", type=float, default=20.0, help="seconds of load before the fault")
    run.add_argument("--after", type=float, default=40.0, help="seconds of load after the fault ended")
    run.add_argument(
        "--seconds", type=float, default=None, help="how long the fault lasts (scenario's default)"
    )
    run.add_argument("--pace", type=float, default=1.0, help="multiplies every pause of the load (2: half)")
    run.add_argument("--no-save", action="store_true", help="print only; write no results")
    run.add_argument("--json", type=Path, default=None, help="also write each outcome here (a directory)")
    smoke = sub.add_parser("smoke", help="kill-asgi and stop-postgres, short (CI)")
    smoke.add_argument("--json", type=Path, default=None, help="also write each outcome here (a directory)")
    soak = sub.add_parser("soak", help="steady load, every process's RSS and open fds sampled")
    soak.add_argument("--minutes", type=float, default=30.0)
    soak.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    soak.add_argument("--pace", type=float, default=1.0)
    sub.add_parser("list", help="the scenarios")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)

    if args.command == "list":
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:22} {scenario.what}")
        return 0
    if args.command == "soak":
        from bench.faults.soak import run_soak

        return asyncio.run(run_soak(args.minutes, args.every, args.pace))

    if args.command == "smoke":
        # One cluster, both faults (a start costs ~20 s): under two minutes in all.
        plan = [(["kill-asgi", "stop-postgres"], 6.0, 10.0, 8.0)]
        save_results = False
        pace = 1.0
    else:
        names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
        plan = [([name], args.before, args.after, args.seconds) for name in names]
        save_results = not args.no_save
        pace = args.pace
    failed = False
    started = time.monotonic()
    try:
        for names, before, after, seconds in plan:
            outcome = asyncio.run(run_scenario(names, before, after, seconds, pace))
            name = outcome["scenario"]
            print(summary(outcome), flush=True)
            failed |= not outcome["accounting"]["clean"]
            if args.json is not None:
                args.json.mkdir(parents=True, exist_ok=True)
                (args.json / f"{name}.json").write_text(json.dumps(outcome, indent=2))
            if save_results:
                print(f"[{name}] written to {save(outcome)}", flush=True)
    except (KeyboardInterrupt, Interrupted):
        print("interrupted: everything started was stopped", file=sys.stderr)
        return 130
    print(f"{'FAILED' if failed else 'ok'} in {time.monotonic() - started:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
