"""deploy/check_monitoring.py, as .ci/run runs it: the shipped dashboard and alert rules pass,
and a dashboard that queries a metric the app does not expose, or is malformed, fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
CHECK = ROOT / "deploy" / "check_monitoring.py"
SHIPPED = ROOT / "deploy" / "grafana" / "dashboards" / "messenger.json"


def run_check(*paths: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1", "VAR_DIR": str(ROOT / "var")}
    return subprocess.run(
        [sys.executable, str(CHECK), *map(str, paths)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_shipped_dashboard_and_alerts_refer_to_metrics_that_exist():
    result = run_check()
    assert result.returncode == 0, result.stderr
    dashboard = json.loads(SHIPPED.read_text())
    queried = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "messenger_messages_sent_total",
        "messenger_delivery_latency_seconds_bucket",
        "messenger_websockets_open",
        "messenger_outbox_emails",
        "django_http_responses_total_by_status_total",
    ):
        assert metric in queried


def test_a_dashboard_querying_an_unknown_metric_or_without_targets_fails(tmp_path):
    dashboard = json.loads(SHIPPED.read_text())
    dashboard["panels"][0]["targets"][0]["expr"] = (
        'sum(rate(messenger_messages_snet_total{kind="direct"}[5m]))'
    )
    dashboard["panels"][1]["targets"] = []
    dashboard["panels"][2]["id"] = dashboard["panels"][3]["id"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dashboard))
    result = run_check(bad)
    assert result.returncode == 1
    assert "unknown metric messenger_messages_snet_total" in result.stderr
    assert "no targets" in result.stderr
    assert "panel ids must be present and unique" in result.stderr

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = run_check(broken)
    assert result.returncode == 1 and "does not parse" in result.stderr
