"""Only ``civic.matching.engine`` imports splink (ARCHITECTURE.md), and matching sits on the
ledger only."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "civic"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_engine_imports_splink() -> None:
    importers = {
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if any(n == "splink" or n.startswith("splink.") for n in _imports(p))
    }
    assert importers == {"matching/engine.py"}


def test_matching_imports_only_the_ledger_and_below() -> None:
    allowed = ("civic.matching", "civic.ledger", "civic.db", "civic.errors", "civic.money")
    for path in (SRC / "matching").rglob("*.py"):
        ours = {n for n in _imports(path) if n == "civic" or n.startswith("civic.")}
        assert all(n.startswith(allowed) for n in ours), (path.name, ours)
