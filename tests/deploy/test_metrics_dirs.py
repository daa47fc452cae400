"""prometheus-client's multiprocess mode where deploy/ runs the app: every process of a container
(gunicorn's workers, Celery's prefork children) writes its samples under PROMETHEUS_MULTIPROC_DIR
and /metrics merges them. Without it a scrape sees the one worker that answered it; with it set
and the directory missing, the process cannot even start (the first metric opens its file there).
So every app container of compose.yaml and of the Kubernetes manifests that gets the variable
gets the directory, empty at each start. Read from the files themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from django.conf import settings

from tests.deploy.helpers import resources

BASE_DIR = Path(settings.BASE_DIR)
COMPOSE = BASE_DIR / "deploy" / "compose.yaml"
K8S_CONFIG = BASE_DIR / "deploy" / "k8s" / "base" / "config.yaml"


def app_services() -> dict[str, dict]:
    """compose.yaml's services built from the app's image (YAML merge keys resolved)."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: service for name, service in services.items() if "build" in service}


def test_every_compose_app_service_has_its_own_empty_multiprocess_dir():
    services = app_services()
    assert {"web", "sockets", "relay", "worker", "beat", "migrate"} <= set(services)
    for name, service in services.items():
        directory = (service.get("environment") or {}).get("PROMETHEUS_MULTIPROC_DIR")
        assert directory, f"{name}: no PROMETHEUS_MULTIPROC_DIR (a scrape would see one worker)"
        # A tmpfs: the container's own (pids of two containers would collide in a shared one)
        # and empty at each start, as the mode needs; a named volume would keep dead pids' files.
        assert directory in service.get("tmpfs", []), f"{name}: no tmpfs at {directory}"


def test_compose_runs_gunicorn_with_the_deploy_settings():
    """deploy/gunicorn.conf.py marks an exited worker dead (its live gauges stop counting) and
    logs paths without query strings: every gunicorn service runs with it."""
    for name, service in app_services().items():
        command = service.get("command") or []
        if command and command[0] == "gunicorn":
            assert command[1:3] == ["-c", "deploy/gunicorn.conf.py"], (name, command)


def test_every_k8s_container_given_the_multiprocess_dir_mounts_it():
    directory = yaml.safe_load(K8S_CONFIG.read_text())["data"]["PROMETHEUS_MULTIPROC_DIR"]
    checked = []
    for (kind, name), document in resources().items():
        if kind not in ("Deployment", "Job"):
            continue
        pod = document["spec"]["template"]["spec"]
        for container in pod["containers"]:
            configs = [source.get("configMapRef", {}).get("name") for source in container.get("envFrom", [])]
            if "messenger-config" not in configs:
                continue
            mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
            assert directory in mounts, f"{kind} {name}: PROMETHEUS_MULTIPROC_DIR is not mounted"
            volume = next(v for v in pod["volumes"] if v["name"] == mounts[directory])
            assert "emptyDir" in volume, f"{kind} {name}: {volume}"  # the pod's own, empty at start
            checked.append(name)
    assert "messenger-migrate" in checked and len(checked) == 6, checked


def test_a_process_whose_multiprocess_dir_is_missing_does_not_start(tmp_path):
    """Why the Job needs the directory too: `manage.py migrate` imports the app's metrics."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))},
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing"),
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path / "var"),
    }
    run = [sys.executable, "manage.py", "check"]
    missing = subprocess.run(run, cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "FileNotFoundError" in missing.stderr, missing.stderr[-2000:]
    (tmp_path / "missing").mkdir()
    present = subprocess.run(run, cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert present.returncode == 0, present.stderr[-2000:]
