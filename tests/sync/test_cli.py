"""``civic sync`` and ``civic portal`` as a user runs them: real processes, real SQLite files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.cli.test_cli import CIVIC, run


def _ledger(tmp_path: Path) -> str:
    db = str(tmp_path / "civic.db")
    run("init", "--db", db, "--community", "SPRINGFIELD", "--name", "Springfield")
    run(
        "customers", "add", "1234-1", "--first-name", "Jane", "--last-name", "O'Brien",
        "--service-address", "12 Main St", db=db,
    )  # fmt: skip
    run("post", "charge", "1234-1", "68.27", "-s", "WA", "--date", "2026-10-15", db=db)
    return db


def test_run_status_search_explain(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    portal = str(tmp_path / "portal.db")
    first = json.loads(run("sync", "run", "--ledger", db, "--portal", portal, "--json").stdout)
    assert first["snapshot"] and first["inserted"] == 1 and first["caught_up"]
    again = json.loads(run("sync", "run", "--ledger", db, "--portal", portal, "--json").stdout)
    assert not again["snapshot"] and again["changes"] == 0
    status = json.loads(run("sync", "status", "--portal", portal, "--ledger", db, "--json").stdout)
    assert status["cursor"] == first["cursor"] and status["behind_changes"] == 0
    assert status["healthy"] and status["customers"] == 1 and status["visible"] == 1
    assert "last success" in run("sync", "status", "--portal", portal).stdout
    hits = json.loads(run("portal", "search", "OBrein", "--portal", portal, "--json").stdout)
    assert hits[0]["account_number"] == "001234-01" and hits[0]["balance"] == "68.27"
    table = run("portal", "search", "00123401", "--portal", portal).stdout
    assert "O'Brien" in table
    why = json.loads(
        run("portal", "explain", "Nobody Here", "--ledger", db, "--portal", portal, "--json").stdout
    )
    assert why["verdict"] == "not_in_ledger"
    run("customers", "add", "2000-1", "--last-name", "Later", db=db)
    text = run("portal", "explain", "Later", "--ledger", db, "--portal", portal).stdout
    assert text.startswith("not_synced:")


def test_user_errors_are_one_red_line(tmp_path: Path) -> None:
    missing = run("sync", "status", "--portal", str(tmp_path / "none.db"), ok=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"error: no portal store at {tmp_path / 'none.db'}: run `civic sync run` first"
    ]
    no_token = run("sync", "run", "--feed-url", "http://127.0.0.1:9", ok=False)
    assert no_token.returncode == 1 and "--token" in no_token.stderr
    down = run(
        "sync", "run", "--portal", str(tmp_path / "p.db"),
        "--feed-url", "http://127.0.0.1:9", "--token", "t", ok=False,
    )  # fmt: skip
    assert down.returncode == 1 and len(down.stderr.strip().splitlines()) == 1
    assert "cannot reach the ledger API" in down.stderr


def test_follow_applies_changes_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    portal = str(tmp_path / "portal.db")
    env = {**os.environ, "NO_COLOR": "1", "CIVIC_LEDGER_URL": db, "CIVIC_PORTAL_URL": portal}
    follower = subprocess.Popen(
        [CIVIC, "sync", "run", "--follow", "--interval", "0.1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        run("customers", "add", "3000-1", "--last-name", "Followed", db=db)
        run("post", "charge", "3000-1", "5.00", "-s", "WA", "--date", "2026-10-15", db=db)
        deadline = time.monotonic() + 30
        found: list[object] = []
        while time.monotonic() < deadline and not found:
            if Path(portal).exists():
                result = run("portal", "search", "Followed", "--portal", portal, "--json", ok=False)
                found = json.loads(result.stdout) if result.returncode == 0 else []
            time.sleep(0.1)
        assert found, "the follower never applied the new customer"
    finally:
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    runs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert runs and runs[0]["snapshot"]


def test_deltas_by_default_and_no_deltas_on_request(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    portal = str(tmp_path / "portal.db")
    run("sync", "run", "--ledger", db, "--portal", portal, "--json")
    for flag in ("--deltas", "--no-deltas"):
        run("post", "charge", "1234-1", "1.00", "-s", "WA", "--date", "2026-11-02", db=db)
        out = json.loads(
            run("sync", "run", "--ledger", db, "--portal", portal, flag, "--json").stdout
        )
        assert out["changes"] == 1 and out["updated"] == 1, flag
    hits = json.loads(run("portal", "search", "OBrien", "--portal", portal, "--json").stdout)
    assert hits[0]["balance"] == "70.27"
