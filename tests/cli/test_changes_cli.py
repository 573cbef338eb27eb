"""``civic changes``: the feed's extent, and pruning it (retention), as a clerk runs them."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

from tests.cli.test_cli import ledger, run

__all__ = ["ledger"]


def test_prune_removes_old_changes_and_is_audited(ledger: str) -> None:
    run("post", "charge", "001234-01", "12.50", "-s", "WA", "--date", "1/15/2026", db=ledger)
    shown = json.loads(run("changes", "show", "--json", db=ledger).stdout)
    assert shown["changes"] >= 2 and shown["first_seq"] == 1
    latest = shown["latest_seq"]
    # Everything recorded "now": nothing is old enough to go.
    none = json.loads(run("changes", "prune", "--keep-days", "30", "--json", db=ledger).stdout)
    assert none["deleted"] == 0 and none["first_kept_seq"] == 1
    # Make every change but the newest 40 days old, through the database itself.
    old = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(ledger) as conn:
        conn.execute("UPDATE outbox SET at = ? WHERE seq < ?", (old, latest))
    dry = json.loads(
        run("changes", "prune", "--keep-days", "30", "--dry-run", "--json", db=ledger).stdout
    )
    assert dry["deleted"] == latest - 1 and dry["dry_run"]
    assert json.loads(run("changes", "show", "--json", db=ledger).stdout)["first_seq"] == 1
    text = run("changes", "prune", "--keep-days", "30", db=ledger).stdout
    assert f"Removed {latest - 1} change(s)" in text and f"{latest}..{latest}" in text
    after = json.loads(run("changes", "show", "--json", db=ledger).stdout)
    assert (after["changes"], after["first_seq"], after["latest_seq"]) == (1, latest, latest)
    with sqlite3.connect(ledger) as conn:
        audited = conn.execute(
            "SELECT actor, changes FROM audit_log WHERE action = 'changes.prune' ORDER BY id"
        ).fetchall()
    # Both real prunes are audited (the dry run is not), with what they removed.
    assert [(actor, json.loads(c)["deleted"]) for actor, c in audited] == [
        ("clerk", 0),
        ("clerk", latest - 1),
    ]


def test_prune_refuses_a_keep_days_below_one(ledger: str) -> None:
    result = run("changes", "prune", "--keep-days", "0", db=ledger, ok=False)
    assert result.returncode != 0 and "--keep-days" in result.stderr
