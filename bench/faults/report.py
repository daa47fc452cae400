"""bench/results/faults-<date>.md from the day's JSON results (one per scenario) and the soak's."""

from __future__ import annotations

import json
from pathlib import Path


def _features(features: list[dict]) -> str:
    cells = []
    for f in features:
        if f["never_recovered"]:
            back = "not back by the end"
        elif f["down_after"] is None:
            back = "never failed"
        else:
            back = f"{f['down_after']:.1f} s"
        cells.append(f"| {f['feature']} | {f['kept_working']} | {back} |")
    return "\n".join(["| feature | ok during the fault | down after it ended |", "|---|---|---|", *cells])


def render(directory: Path) -> str:
    outcomes = [
        json.loads(p.read_text()) for p in sorted(directory.glob("*.json")) if not p.stem.startswith("soak")
    ]
    lines = [
        f"# Faults under load: {directory.name.removeprefix('faults-')}",
        "",
        '`python -m bench.faults run <scenario>` (bench/README.md, "Faults"); one run each, on the shared',
        "2-core machine, the harness's own PostgreSQL (fsync off), Redis, broker, moto S3 and app processes.",
        "",
        "## Accounting",
        "",
        "| scenario | sent | acknowledged | delivered (message x reader) | lost | duplicates | out of order | 5xx (all 503 + Retry-After?) | no answer | emails sent once | media rows / objects / problems (then left after the purge) | relay delivered / queued | relay kept for an offline recipient | live socket misses (caught up by /sync) | clean |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        a = o["accounting"]
        all_503 = (
            "yes"
            if not a["not_503"] and not a["no_retry_after"]
            else f"NO ({len(a['not_503'])} not 503, {a['no_retry_after']} without Retry-After)"
        )
        lines.append(
            f"| {o['scenario']} | {a['sent']} | {a['acknowledged']} | {a['delivered']}/{a['expected']} | {a['lost']} | "
            f"{a['duplicates']} | {a['out_of_order']} | {a['server_errors']} ({all_503}) | {a['no_answer']} | "
            f"{a['emails_sent_once']}/{a['emails_invited']} | {a['media_rows']} / {a['media_objects']} / "
            f"{len(a['media_problems'])} ({a.get('media_left_after_purge', 0)}) | {a['relay_delivered']}/{a['relay_queued']} | "
            f"{a['relay_offline_kept']}/{a['relay_offline_queued']} | {a['live_missed']} | "
            f"{'yes' if a['clean'] else 'NO'} |"
        )
    lines += [
        "",
        "Lost and duplicates count acknowledged sends (a 2xx or `message.sent`) missing from, or twice in, a "
        "reader's `/sync`, or a `client_message_id` stored twice. The relay's envelopes live in Redis alone: a "
        'Redis restarted without persistence loses those still waiting (the column "kept for an offline '
        'recipient"), by design, so that column does not count against "clean". Live socket misses are '
        "messages a device's socket did not get while it was down or reconnecting; `/sync` gave them all.",
        "",
        "## Each scenario",
        "",
    ]
    for o in outcomes:
        a = o["accounting"]
        lines += [
            f"### {o['scenario']}: {o['what']}",
            "",
            f"Run {o['when']}; load {o['load_seconds']} s, the fault from {o['fault'][0]} s to {o['fault'][1]} s; "
            f"{o['reconnects']} socket reconnects; email delay (outbox row to sent) at most "
            f"{a['email_max_delay']:.1f} s; {a['stored_unacknowledged']} sends stored but never acknowledged; "
            f"{a['live_deliveries']} live socket deliveries; relay re-pushes seen {a['relay_duplicates']}.",
            "",
        ]
        for fault in o.get("faults") or [
            {"name": o["scenario"], "fault": o["fault"], "features": o["features"]}
        ]:
            if len(o.get("faults") or []) > 1:
                lines += [f"{fault['name']}, from {fault['fault'][0]} s to {fault['fault'][1]} s:", ""]
            lines += [_features(fault["features"]), ""]
        problems = a["problems"] + a["not_503"] + a["emails_problems"] + a["media_problems"]
        if problems:
            lines += ["Problems:", "", *(f"- {p}" for p in problems[:20]), ""]
    soak = directory / "soak.json"
    if soak.exists():
        from bench.faults.soak import soak_section

        lines += soak_section(json.loads(soak.read_text()), directory)
    return "\n".join(lines) + "\n"
