"""The folders, the import contract and the README say the same thing: the README's table of apps
(and docs/ARCHITECTURE.md's) lists the contract's layers top to bottom, and every layer is a
top-level package of its own (no `messenger.*` at both ends: messenger/ is configuration only)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def contract_layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (apps,) = [c for c in contracts if c["name"] == "Apps only depend downwards"]
    return [re.split(r"\s*[|:]\s*", layer) for layer in apps["layers"]]


def table_rows(path: Path) -> list[list[str]]:
    """The apps named in the first column of the table headed `| app | owns ...`."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| app | owns"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first_cell = line.split("|")[1]
        rows.append(re.findall(r"`([a-z_.]+)`", first_cell))
    return rows


def test_every_layer_is_a_top_level_package_and_messenger_is_only_at_the_top():
    layers = contract_layers()
    names = [name for layer in layers for name in layer]
    assert all("." not in name for name in names), names
    assert [name for name in names if name.startswith("messenger")] == ["messenger"]
    assert "messenger" in layers[0]
    assert all((ROOT / name / "__init__.py").exists() for name in names)
    assert layers[-1] == ["core"]


@pytest.mark.parametrize("document", ["README.md", "docs/ARCHITECTURE.md"])
def test_the_app_table_lists_the_contract_layers_top_to_bottom(document):
    assert table_rows(ROOT / document) == contract_layers()
