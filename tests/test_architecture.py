"""The import directions of ARCHITECTURE.md hold (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_package_says_what_it_is_for() -> None:
    for init in (ROOT / "src" / "civic").rglob("__init__.py"):
        if "migrations" in init.parts:
            continue
        text = init.read_text().strip()
        assert text.startswith('"""'), f"{init.relative_to(ROOT)} has no docstring"
