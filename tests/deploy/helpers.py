"""Plain helpers of the deploy tests: the Kubernetes manifests of deploy/k8s/base."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.conf import settings

BASE = Path(settings.BASE_DIR) / "deploy" / "k8s" / "base"


def resources() -> dict[tuple[str, str], dict]:
    """Every document the kustomization lists, by (kind, name)."""
    listed = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    found = {}
    for name in listed:
        for document in yaml.safe_load_all((BASE / name).read_text()):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found
