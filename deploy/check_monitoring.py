"""Lints deploy/'s monitoring files without Grafana or a cluster (.ci/run runs it):

- the Grafana dashboards (deploy/grafana/dashboards/*.json) parse, have a uid and a title, and
  every panel has a unique id, a title, a type, a grid position and PromQL targets with refIds;
- every metric named in a dashboard's query or an alert rule's expression (deploy/prometheus/
  alerts.yml) is one the app exposes: its own (core/metrics.py) or django-prometheus's,
  collected from the registry the app builds, or Prometheus' own `up`.

`python deploy/check_monitoring.py [dashboard.json ...]`: exits 1, listing each problem.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PANEL_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "text", "row"}
# A metric of ours is named with one of these prefixes; other identifiers in PromQL (functions,
# keywords, label names) never are.
OUR_PREFIXES = ("messenger_", "django_")
IDENTIFIER = re.compile(r"(?<![\w:\"'{.$])([a-zA-Z_:][a-zA-Z0-9_:]*)")
LABEL_MATCHERS = re.compile(r"\{[^}]*\}")
STRINGS = re.compile(r'"[^"]*"')


def known_metrics() -> set[str]:
    """Every sample name the app can expose (names with their _total/_bucket/... suffixes)."""
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one process: the in-memory registry
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings")
    os.environ.setdefault("DEBUG", "1")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import django_prometheus.cache.metrics
    import django_prometheus.db.metrics  # noqa: F401
    from django_prometheus.middleware import Metrics
    from prometheus_client import REGISTRY

    from core import metrics

    Metrics.get_instance()  # the middleware registers its metrics on first use
    names = set(REGISTRY._names_to_collectors)  # every name and suffixed sample name
    names.update(metrics.scrape_gauge_names())
    names.add("up")
    return names


def metrics_in(expr: str) -> set[str]:
    bare = STRINGS.sub("", LABEL_MATCHERS.sub("", expr))
    return {name for name in IDENTIFIER.findall(bare) if name.startswith(OUR_PREFIXES) or name == "up"}


def check_dashboard(path: Path, known: set[str]) -> list[str]:
    try:
        dashboard = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return [f"{path.name}: does not parse: {exc}"]
    problems = []
    for key in ("uid", "title", "panels"):
        if not dashboard.get(key):
            problems.append(f"{path.name}: no {key}")
    panels = dashboard.get("panels") or []
    if not isinstance(panels, list):
        return [*problems, f"{path.name}: panels is not a list"]
    ids = [panel.get("id") for panel in panels]
    if len(ids) != len(set(ids)) or None in ids:
        problems.append(f"{path.name}: panel ids must be present and unique: {ids}")
    for panel in panels:
        where = f"{path.name}: panel {panel.get('id')} {panel.get('title')!r}"
        if not panel.get("title"):
            problems.append(f"{where}: no title")
        if panel.get("type") not in PANEL_TYPES:
            problems.append(f"{where}: unknown type {panel.get('type')!r}")
        grid = panel.get("gridPos") or {}
        if (
            not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y"))
            or grid.get("x", 0) + grid.get("w", 0) > 24
        ):
            problems.append(f"{where}: gridPos needs integer h, w, x, y within 24 columns")
        if panel.get("type") in ("row", "text"):
            continue
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        ref_ids = [target.get("refId") for target in targets]
        if len(ref_ids) != len(set(ref_ids)) or None in ref_ids:
            problems.append(f"{where}: refIds must be present and unique: {ref_ids}")
        for target in targets:
            expr = target.get("expr") or ""
            found = metrics_in(expr)
            if not found:
                problems.append(f"{where}: target {target.get('refId')} queries no metric: {expr!r}")
            problems += [f"{where}: unknown metric {name}" for name in sorted(found - known)]
    return problems


def check_alerts(path: Path, known: set[str]) -> list[str]:
    import yaml

    problems = []
    for group in yaml.safe_load(path.read_text()).get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            found = metrics_in(rule.get("expr", ""))
            if not found:
                problems.append(f"{path.name}: {name}: its expression names no metric")
            problems += [f"{path.name}: {name}: unknown metric {metric}" for metric in sorted(found - known)]
    return problems


def main(argv: list[str]) -> int:
    dashboards = [Path(arg) for arg in argv] or DASHBOARDS
    if not dashboards:
        print("check_monitoring: no dashboard found", file=sys.stderr)
        return 1
    known = known_metrics()
    problems = []
    for path in dashboards:
        problems += check_dashboard(path, known)
    problems += check_alerts(ALERTS, known)
    for problem in problems:
        print(f"check_monitoring: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(
        f"check_monitoring: {len(dashboards)} dashboard(s) and {ALERTS.name} refer only to metrics that exist"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
