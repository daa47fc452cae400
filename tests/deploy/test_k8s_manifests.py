"""deploy/k8s/base: what the cluster needs of each process, read from the manifests themselves
(CI also validates them against the Kubernetes schemas with kubernetes-validate)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.helpers import BASE, resources


def container(deployment: dict) -> dict:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_every_process_and_the_migration_job_is_there_with_resources():
    found = resources()
    for process in ("web", "sockets", "relay", "worker", "beat"):
        deployment = found[("Deployment", f"messenger-{process}")]
        requests = container(deployment)["resources"]["requests"]
        assert requests["cpu"] and requests["memory"], process
        # a headless Service per process: Prometheus scrapes each pod
        service = found[("Service", f"messenger-{process}-metrics")]
        assert service["spec"]["clusterIP"] == "None"
    job = found[("Job", "messenger-migrate")]
    assert container(job)["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert found[("Deployment", "messenger-beat")]["spec"]["replicas"] == 1
    assert found[("Deployment", "messenger-beat")]["spec"]["strategy"]["type"] == "Recreate"


def test_http_processes_probe_readyz_and_healthz_and_stop_gracefully():
    found = resources()
    for process in ("web", "sockets", "relay"):
        deployment = found[("Deployment", f"messenger-{process}")]
        spec = container(deployment)
        assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert spec["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        pause = int(spec["lifecycle"]["preStop"]["exec"]["command"][1])
        # the pause plus the server's own graceful stop (gunicorn 25 s, uvicorn 20 s) fit the grace
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= pause + 25 + 5
        assert spec["command"][0] == "/app/deploy/run-with-metrics.sh"  # empties the multiprocess dir
        assert found[("PodDisruptionBudget", f"messenger-{process}")]["spec"]["minAvailable"] >= 1


def test_web_and_sockets_autoscale():
    found = resources()
    for process in ("web", "sockets"):
        hpa = found[("HorizontalPodAutoscaler", f"messenger-{process}")]
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"messenger-{process}"
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


def test_the_manifests_validate_against_the_kubernetes_schemas():
    files = [
        str(BASE / name) for name in yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    ]
    validate = Path(sys.executable).parent / "kubernetes-validate"
    result = subprocess.run(
        [str(validate), "--strict", "--quiet", "-k", "1.32.0", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
