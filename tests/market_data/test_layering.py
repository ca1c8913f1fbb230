"""DESIGN.md's layering: lower layers never import higher ones."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HIGHER = {"market_data": ("strategies", "harness"), "strategies": ("harness",)}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_lower_layers_never_import_higher_ones():
    offenders = []
    for package, forbidden in HIGHER.items():
        for path in (ROOT / package).rglob("*.py"):
            bad = _imports(path) & set(forbidden)
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert not offenders, "\n".join(offenders)
