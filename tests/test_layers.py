"""Layers import one way: hqvae <- booster <- feature_store <- downstream; benchmarks and the CLI
(``booster/cli.py``, the composition root) sit above them all and no layer imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["hqvae", "booster", "feature_store", "downstream", "benchmarks"]
ABOVE_ALL = {ROOT / "booster" / "cli.py"}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports (at module level or inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("layer", ORDER)
def test_no_layer_imports_a_layer_above_it(layer):
    higher = set(ORDER[ORDER.index(layer) + 1:])
    offenders = {}
    for path in sorted((ROOT / layer).rglob("*.py")):
        if path in ABOVE_ALL:
            continue
        bad = imported_packages(path) & higher
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"imports against the layers: {offenders}"


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from feature_store.store import FeatureStore\n")
    assert "feature_store" in imported_packages(module)
