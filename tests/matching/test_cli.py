"""``civic match`` as a user runs it: real processes on a real SQLite ledger."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CIVIC = str(Path(sys.executable).parent / "civic")


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIVIC_ACTOR": "clerk", "NO_COLOR": "1", "COLUMNS": "120"}
    result = subprocess.run([CIVIC, *args], capture_output=True, text=True, env=env, timeout=120)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("match") / "town.db")
    run("demo", "--db", db, "--customers", "300", "--seed", "5")
    run("match", "run", "--db", db, "--retrain")
    return db


def test_run_show_export_accept(ledger: str, tmp_path: Path) -> None:
    summary = json.loads(run("match", "run", "--db", ledger, "--json").stdout)
    assert summary["model_version"] >= 1 and summary["pairs"] > 0
    out = tmp_path / "queue.csv"
    run("match", "export", "--db", ledger, "--tier", "merge", "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    assert rows and all(r["tier"] == "merge" for r in rows)
    first = rows[0]["pair_id"]
    shown = run("match", "show", first, "--db", ledger).stdout
    assert "first_name" in shown and "weight" in shown
    view = json.loads(run("match", "accept", first, "--by", "ann", "--db", ledger, "--json").stdout)
    assert view["status"] == "accepted" and view["reviewer"] == "ann"
    exported = json.loads(run("match", "export", "--db", ledger, "--format", "json").stdout)
    assert any(p["pair_id"] == int(first) and p["status"] == "accepted" for p in exported)
    again = json.loads(run("match", "run", "--db", ledger, "--json").stdout)
    assert not again["trained"] and again["kept_decisions"] >= 1


def test_file_without_a_model_and_too_few_rows_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "tiny.csv"
    export.write_text("id,first_name,last_name\n1,Ann,Lee\n2,Bo,Chan\n")
    out = tmp_path / "pairs.csv"
    bad = run(
        "match",
        "file",
        str(export),
        "--id",
        "id",
        "--out",
        str(out),
        "--db",
        str(tmp_path / "none.db"),
        ok=False,
    )
    assert bad.returncode == 1 and "too few to train" in bad.stderr


def test_user_errors_are_one_red_line(ledger: str) -> None:
    bad = run("match", "show", "999999", "--db", ledger, ok=False)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: no suggested pair 999999"
    bad = run("match", "export", "--db", ledger, "--format", "xml", ok=False)
    assert bad.returncode == 1 and "csv or json" in bad.stderr


def test_file_scores_a_raw_export_without_importing(ledger: str, tmp_path: Path) -> None:
    export = tmp_path / "legacy.csv"
    rows = [
        ("L1", "Jane", "O'Brien", "12 North Main Street Apt 3", "97471-2203", "SSR-7654321"),
        ("L2", "JANE", "OBRIEN", "12 N Main St #3", "97471", " ssr 7654321"),
        ("L3", "Walter", "Kowalczyk", "40 Elm St", "97472", ""),
        ("L4", "Agnes", "Zimmerman", "9 Pine Rd", "97473", ""),
    ]
    with export.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Legacy Id", "Given", "Family", "Addr", "Zip", "SSR"])
        w.writerows(rows)
    out = tmp_path / "pairs.csv"
    run(
        "match",
        "file",
        str(export),
        "--id",
        "Legacy Id",
        "--map",
        "Given=first_name",
        "--map",
        "Family=last_name",
        "--map",
        "Addr=service_address",
        "--map",
        "SSR=ref:ssr",
        "--out",
        str(out),
        "--db",
        ledger,
    )
    lines = out.read_text().splitlines()
    assert lines[0] == "id_l,id_r,match_probability,tier,classification"
    got = [line.split(",") for line in lines[1:]]
    # term frequencies come from the file itself: in four rows "obrien" is common, so the
    # tier depends on the file's size; the pair itself must be the top suggestion
    assert got[0][:2] == ["L1", "L2"] and got[0][3] in ("merge", "review")
    assert got[0][4] == "duplicate_record" and float(got[0][2]) > 0.9
    assert not any("L4" in line for line in lines)
    bad = run(
        "match", "file", str(export), "--id", "Nope", "--out", str(out), "--db", ledger, ok=False
    )
    assert bad.returncode == 1 and "no column 'Nope'" in bad.stderr
