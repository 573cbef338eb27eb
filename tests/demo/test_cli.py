"""``civic demo`` through the real command line: builds a small town, writes the truth beside
the ledger, refuses to overwrite without --force, and rebuilds the same town with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CIVIC = str(Path(sys.executable).with_name("civic"))


def _civic(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CIVIC, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_demo_builds_refuses_and_rebuilds(tmp_path: Path) -> None:
    built = _civic(tmp_path, "demo", "--db", "tmp/ledger.db", "--customers", "300")
    assert built.returncode == 0, built.stderr
    assert "300 customers" in built.stdout
    assert "What to try next" in built.stdout and "civic balance" in built.stdout
    truth = tmp_path / "tmp" / "ledger.truth.json"
    first = truth.read_bytes()
    assert json.loads(first)["counts"]["duplicate"]["imported_twice"] >= 1

    refused = _civic(tmp_path, "demo", "--db", "tmp/ledger.db", "--customers", "300")
    assert refused.returncode == 1
    assert "already holds a ledger with 300 customers" in refused.stderr
    assert "--force" in refused.stderr

    again = _civic(
        tmp_path, "demo", "--db", "tmp/ledger.db", "--customers", "300", "--force", "--json"
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["customers"] == 300 and summary["truth_file"] == str(
        Path("tmp/ledger.truth.json")
    )
    assert truth.read_bytes() == first

    account = summary["examples"]["delinquent_account"]
    shown = _civic(tmp_path, "balance", account, "--db", "tmp/ledger.db", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["total"] == _total_of(tmp_path, account)


def _total_of(cwd: Path, account: str) -> str:
    listed = _civic(cwd, "customers", "show", account, "--db", "tmp/ledger.db", "--json")
    assert listed.returncode == 0, listed.stderr
    return str(json.loads(listed.stdout)["balance"])


def test_demo_refuses_bad_options(tmp_path: Path) -> None:
    small = _civic(tmp_path, "demo", "--db", "x.db", "--customers", "5")
    assert small.returncode != 0
    bad_date = _civic(tmp_path, "demo", "--db", "x.db", "--as-of", "someday")
    assert bad_date.returncode == 1 and "as_of" in bad_date.stderr
