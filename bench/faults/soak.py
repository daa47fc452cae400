"""The soak: the steady load for --minutes with no fault, every process of the run sampled every
--every seconds (memory from /proc/<pid>/smaps_rollup: RSS, PSS and USS; open file descriptors
from /proc/<pid>/fd), summed per role. Memory is judged on PSS (see `sample`). Judged from the end of the warm-up (a sixth of the run: minute 5
of 30) to the end: each role's memory, averaged over a minute at each end, grows under 5 %, and
its open fds do not grow (a few of slack for connections in flight). The accounting of the run
holds too (nothing lost or doubled). Writes soak.json and soak.png into the day's results.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.faults import accounting
from bench.faults.cluster import Cluster, start_cluster
from bench.faults.load import Ledger, Load
from bench.faults.plot import soak_chart

GROWTH_LIMIT_PERCENT = 5.0
FD_SLACK = 8  # sockets in flight at the moment of a sample
# Roles whose numbers move with the load by design rather than leak: PostgreSQL's memory is
# shared buffers being touched (counted once per backend in RSS); listed but judged like the rest.


def sample(cluster: Cluster) -> dict[str, tuple[int, int, int, int]]:
    """role -> (RSS, PSS, USS in KiB, open fds), summed over the role's processes.

    RSS counts a shared page once per process that touched it: PostgreSQL's backends each count
    the shared buffers they read, so their RSS sum grows with the data read, not with any leak.
    PSS shares each page among its processes (the memory a role really holds); USS is what is
    private to it (a leak shows there). The soak is judged on PSS."""
    out = {}
    for role, pids in cluster.processes().items():
        rss = pss = uss = fds = 0
        for pid in pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    field, _, rest = line.partition(":")
                    if field == "Rss":
                        rss += int(rest.split()[0])
                    elif field == "Pss":
                        pss += int(rest.split()[0])
                    elif field in ("Private_Clean", "Private_Dirty"):
                        uss += int(rest.split()[0])
                fds += len(os.listdir(f"/proc/{pid}/fd"))
        out[role] = (rss, pss, uss, fds)
    return out


def window_mean(points: list[tuple[float, float]], start: float, end: float) -> float:
    values = [value for x, value in points if start <= x <= end] or [points[-1][1]]
    return sum(values) / len(values)


def judge(series: dict[str, list[tuple[float, float]]], warmup: float, end: float, minute: float) -> dict:
    verdicts = {}
    for role, points in series.items():
        at_warmup = window_mean(points, warmup - minute / 2, warmup + minute / 2)
        at_end = window_mean(points, end - minute, end)
        growth = 100.0 * (at_end - at_warmup) / at_warmup if at_warmup else 0.0
        verdicts[role] = {
            "at_warmup": round(at_warmup, 1),
            "at_end": round(at_end, 1),
            "growth_percent": round(growth, 2),
        }
    return verdicts


async def run_soak(minutes: float, every: float, pace: float) -> int:
    from bench.faults.__main__ import RESULTS, account_for, seed, today, write_report

    work = Path(tempfile.mkdtemp(prefix="faults-soak-"))
    work.chmod(0o755)
    print(f"[soak] starting the cluster under {work}", flush=True)
    cluster = await start_cluster(work)
    try:
        world = await asyncio.to_thread(seed, cluster)
        async with httpx.AsyncClient(base_url=world.rest_url, trust_env=False, timeout=30) as client:
            since = await accounting.sync_tokens(client, world)
            ledger = Ledger()
            load = Load(world, ledger, pace=pace, delete_uploads=True)
            load.start()
            duration = minutes * 60
            print(f"[soak] load on for {minutes:g} min, a sample every {every:g} s", flush=True)
            samples: list[tuple[float, dict[str, tuple[int, int, int, int]]]] = []
            next_print = 0.0
            while ledger.now() < duration:
                samples.append((ledger.now(), sample(cluster)))
                if ledger.now() >= next_print:
                    total = sum(v[1] for v in samples[-1][1].values()) // 1024
                    print(
                        f"[soak] {ledger.now() / 60:5.1f} min: {total} MiB (PSS) in all, "
                        f"{len(ledger.sends)} sends",
                        flush=True,
                    )
                    next_print += 60
                await asyncio.sleep(every)
            await load.stop()
            result = await account_for(cluster, client, world, ledger, since)
    finally:
        cluster.stop()
        await cluster.gate.close()
        shutil.rmtree(work, ignore_errors=True)

    roles = list(samples[0][1])

    def curve(index: int, scale: float) -> dict[str, list[tuple[float, float]]]:
        return {role: [(t / 60, s[role][index] / scale) for t, s in samples if role in s] for role in roles}

    rss, pss, uss, fds = curve(0, 1024), curve(1, 1024), curve(2, 1024), curve(3, 1)
    warmup, end = minutes / 6, samples[-1][0] / 60
    minute = min(1.0, minutes / 30)
    memory = judge(pss, warmup, end, minute)
    resident = judge(rss, warmup, end, minute)
    private = judge(uss, warmup, end, minute)
    descriptors = judge(fds, warmup, end, minute)
    memory_ok = all(v["growth_percent"] < GROWTH_LIMIT_PERCENT for v in memory.values())
    fds_ok = all(descriptors[r]["at_end"] <= descriptors[r]["at_warmup"] + FD_SLACK for r in roles)
    directory = RESULTS / f"faults-{today()}"
    directory.mkdir(parents=True, exist_ok=True)
    colours = soak_chart(directory / "soak.png", pss, fds, warmup)
    outcome = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": minutes,
        "every_seconds": every,
        "pace": pace,
        "warmup_minutes": warmup,
        "sends_per_second": round(len(ledger.sends) / (duration or 1), 1),
        "memory": memory,
        "rss": resident,
        "uss": private,
        "fds": descriptors,
        "colours": dict(zip(roles, colours, strict=True)),
        "memory_ok": memory_ok,
        "fds_ok": fds_ok,
        "accounting": {**asdict(result), "clean": result.clean},
        "samples": [[round(t, 1), {role: list(v) for role, v in s.items()}] for t, s in samples],
    }
    (directory / "soak.json").write_text(json.dumps(outcome, indent=1) + "\n")
    path = write_report(directory)
    for role in roles:
        m, r, u, f = memory[role], resident[role], private[role], descriptors[role]
        print(
            f"[soak] {role:14} PSS {m['at_warmup']:8.1f} -> {m['at_end']:8.1f} MiB ({m['growth_percent']:+.2f} %), "
            f"RSS {r['growth_percent']:+.2f} %, USS {u['growth_percent']:+.2f} %, fds {f['at_warmup']:.0f} -> {f['at_end']:.0f}",
            flush=True,
        )
    print(
        f"[soak] memory {'flat' if memory_ok else 'GREW'}, fds {'flat' if fds_ok else 'GREW'}, accounting "
        f"{'clean' if result.clean else 'NOT clean'}; written to {path}",
        flush=True,
    )
    return 0 if memory_ok and fds_ok and result.clean else 1


def soak_section(outcome: dict, directory: Path) -> list[str]:
    a = outcome["accounting"]
    lines = [
        "## Soak",
        "",
        f"`python -m bench.faults soak --minutes {outcome['minutes']:g}`, run {outcome['when']}: the same steady load "
        f"({outcome['sends_per_second']} sends a second, plus the rest of the mix) with no fault, every process "
        f"sampled every {outcome['every_seconds']:g} s. Judged from minute {outcome['warmup_minutes']:g} "
        "(the warm-up's end) to the end, each end averaged over a minute.",
        "",
        f"Memory (PSS) {'flat (every role under 5 % growth)' if outcome['memory_ok'] else 'NOT flat'}; "
        f"open fds {'flat' if outcome['fds_ok'] else 'GREW'}; accounting: {a['acknowledged']} sends acknowledged, "
        f"lost {a['lost']}, duplicates {a['duplicates']}, 5xx {a['server_errors']}.",
        "",
        "| process (role) | PSS at warm-up (MiB) | PSS at the end (MiB) | PSS growth | RSS growth | USS (private) growth | open fds at warm-up | at the end | colour |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for role, m in outcome["memory"].items():
        f = outcome["fds"][role]
        rss = outcome.get("rss", {}).get(role, {}).get("growth_percent")
        uss = outcome.get("uss", {}).get(role, {}).get("growth_percent")
        lines.append(
            f"| {role} | {m['at_warmup']:.1f} | {m['at_end']:.1f} | {m['growth_percent']:+.2f} % | "
            f"{'' if rss is None else f'{rss:+.2f} %'} | {'' if uss is None else f'{uss:+.2f} %'} | "
            f"{f['at_warmup']:.0f} | {f['at_end']:.0f} | {outcome['colours'][role]} |"
        )
    first = directory / "soak-rss-first-run.json"
    if first.exists():
        earlier = json.loads(first.read_text())
        growth = ", ".join(f"{role} {v['growth_percent']:+.1f} %" for role, v in earlier["memory"].items())
        lines += [
            "",
            f"An earlier {earlier['minutes']:g}-minute soak ({earlier['when']}, `soak-rss-first-run.json`) judged "
            f"resident memory (RSS): {growth}. Every app process was flat; PostgreSQL's RSS grew because each "
            "backend counts the shared buffers it has read, once per backend, as the tables grow: not a leak, "
            "hence PSS above (each shared page counted once, shared among its processes).",
        ]
    lines += [
        "",
        f"![memory and open fds of every process over the soak]({directory.name}/soak.png)",
        "",
        "The plot: top, each role's memory (PSS); bottom, its open fds; both in percent of the "
        "role's value at the end of the warm-up (the black vertical line), clipped to +-20 %; red "
        "guides at +-5 %, grey grid lines at tenths of the run. Colours as in the table.",
        "",
    ]
    return lines
