"""`civic merge preview | apply | undo | list` as a clerk runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import run


def test_preview_apply_list_and_undo(tmp_path: Path) -> None:
    db = str(tmp_path / "civic.db")
    run("init", "--db", db, "--community", "SPRINGFIELD", "--name", "Springfield")
    run("customers", "add", "1000-1", "--first-name", "Jane", "--last-name", "Smith", db=db)
    run(
        "customers", "add", "2000-1", "--first-name", "Jane", "--last-name", "Smyth",
        "--phone", "217-555-0101", "--ref", "ssr=SSR1234567", db=db,
    )  # fmt: skip
    run("post", "charge", "2000-1", "68.27", "--service", "WA", "--date", "2024-01-05", db=db)

    preview = json.loads(
        run("merge", "preview", "2000-1", "--into", "1000-1", "--json", db=db).stdout
    )
    assert preview["moves"]["transaction"]["count"] == 1
    assert preview["balance_after"] == {"source": "0.00", "survivor": "68.27"}
    assert preview["refusals"] == [] and preview["needs_force"] == []
    table = run("merge", "preview", "2000-1", "--into", "1000-1", db=db).stdout
    assert "217-555-0101" in table and "transactions" in table

    applied = json.loads(
        run("merge", "apply", "2000-1", "--into", "1000-1", "--json", db=db).stdout
    )
    shown = json.loads(run("customers", "show", "2000-1", "--json", db=db).stdout)
    assert shown["merged_into"] == "001000-01" and shown["status"] == "inactive"
    kept = json.loads(run("customers", "show", "1000-1", "--json", db=db).stdout)
    assert kept["balance"] == "68.27" and kept["refs"] == [{"type": "ssr", "value": "SSR1234567"}]

    again = run("merge", "apply", "2000-1", "--into", "1000-1", db=db, ok=False)
    assert again.returncode == 1 and "already merged into 001000-01" in again.stderr
    assert "Traceback" not in again.stderr

    listed = json.loads(run("merge", "list", "--json", db=db).stdout)
    assert [m["id"] for m in listed] == [applied["merge_id"]]
    undone = run("merge", "undo", str(applied["merge_id"]), db=db).stdout
    assert "restored" in undone
    shown = json.loads(run("customers", "show", "2000-1", "--json", db=db).stdout)
    assert shown["merged_into"] is None and shown["balance"] == "68.27"
