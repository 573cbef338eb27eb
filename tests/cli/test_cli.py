"""The ``civic`` command as a user runs it: real processes on a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from civic.cli.main import app

CIVIC = str(Path(sys.executable).parent / "civic")


def run(*args: str, db: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIVIC_ACTOR": "clerk", "NO_COLOR": "1", "COLUMNS": "120"}
    if db:
        env["CIVIC_LEDGER_URL"] = db
    result = subprocess.run([CIVIC, *args], capture_output=True, text=True, env=env, timeout=60)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    db = str(tmp_path / "civic.db")
    run("init", "--db", db, "--community", "SPRINGFIELD", "--name", "Springfield")
    run(
        "customers",
        "add",
        "1234-1",
        "--first-name",
        "Jane",
        "--last-name",
        "O'Brien",
        "--service-address",
        "12 Main St",
        "--ref",
        "ssr=SSR-1234567",
        db=db,
    )
    return db


def test_init_creates_then_reports_up_to_date(tmp_path: Path) -> None:
    db = str(tmp_path / "sub" / "l.db")
    first = json.loads(run("init", "--db", db, "--json").stdout)
    assert first["revision_before"] is None and first["revision"]
    again = run("init", "--db", db).stdout
    assert "up to date" in again


def test_a_tour_of_posting_and_balance(ledger: str) -> None:
    for amount, on in (
        ("68.27", "12/15/2010"),
        ("70.51", "1/15/2011"),
        ("65.77", "2/15/2011"),
        ("68.88", "3/15/2011"),
    ):
        run("post", "charge", "001234-01", amount, "-s", "WA", "--date", on, db=ledger)
    pay = json.loads(
        run(
            "post",
            "payment",
            "00123401",
            "$50",
            "-r",
            "1001",
            "--date",
            "2011-03-20",
            "--json",
            db=ledger,
        ).stdout
    )
    assert pay[0]["amount"] == "-50.00"
    bal = json.loads(run("balance", "1234-01", "--json", db=ledger).stdout)
    assert bal["total"] == "223.43"
    assert bal["services"][0]["periods"][-1] == {
        "period_end": "2010-12-31",
        "age": 3,
        "charged": "68.27",
        "outstanding": "18.27",
    }
    run("post", "void", "1234-1", "--check", "1001", db=ledger)
    assert json.loads(run("balance", "1234-1", "--json", db=ledger).stdout)["total"] == "273.43"
    shown = json.loads(run("customers", "show", "1234-1", "--json", db=ledger).stdout)
    assert shown["balance"] == "273.43"
    assert [t["kind"] for t in shown["recent_transactions"]][:2] == ["VOID", "PAY"]
    assert shown["refs"] == [{"type": "ssr", "value": "SSR-1234567"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("post", "charge", "9999-1", "1.00", "-s", "WA"), "no customer with account 009999-01"),
        (("post", "charge", "1234-1", "1.005", "-s", "WA"), "amount: not an amount"),
        (("post", "charge", "1234-1", "1.00", "-s", "XX"), "service: no service 'XX'"),
        (("customers", "update", "1234-1", "--set", "email=bad"), "email: 'bad' is not"),
        (("customers", "update", "1234-1", "--set", "nope=1"), "'nope' is not an editable"),
        (
            ("customers", "update", "1234-1", "--set", "city=X", "--expect-version", "7"),
            "changed by someone else",
        ),
        (("customers", "add", "1234-1", "--last-name", "Dup"), "already exists"),
        (("post", "void", "1234-1", "--check", "777"), "no payment with check number"),
        (("balance", "12-34-56"), "not an account number"),
    ],
)
def test_mistakes_are_one_red_line_and_exit_1(
    ledger: str, args: tuple[str, ...], message: str
) -> None:
    result = run(*args, db=ledger, ok=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_usage_errors_exit_2_without_a_traceback() -> None:
    for args in (("post", "charge"), ("nosuch",)):
        result = run(*args, ok=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "Usage:" in result.stderr


def test_missing_ledger_says_to_run_init(tmp_path: Path) -> None:
    result = run("customers", "list", "--db", str(tmp_path / "none.db"), ok=False)
    assert result.returncode == 1
    assert "run `civic init`" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_list_and_update_round_trip(ledger: str) -> None:
    run(
        "customers",
        "update",
        "1234-1",
        "--set",
        "city=Springfield",
        "--expect-version",
        "1",
        db=ledger,
    )
    listed = json.loads(run("customers", "list", "--name", "brien", "--json", db=ledger).stdout)
    assert listed["total"] == 1
    (c,) = listed["customers"]
    assert (c["account_number"], c["city"], c["version"]) == ("001234-01", "Springfield", 2)
    run("customers", "close", "1234-1", db=ledger)
    closed = json.loads(run("customers", "list", "--status", "closed", "--json", db=ledger).stdout)
    assert closed["total"] == 1


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, cmd in group.commands.items():
        out.append((f"{prefix}{name}", cmd))
        if hasattr(cmd, "commands"):
            out.extend(_commands(cmd, f"{prefix}{name} "))
    return out


def test_every_command_and_option_has_help() -> None:
    root = typer.main.get_command(app)
    assert len(_commands(root)) >= 12
    missing = []
    for name, cmd in _commands(root):
        if not (cmd.help or cmd.short_help):
            missing.append(f"command {name}")
        for param in cmd.params:
            if param.name != "help" and not getattr(param, "help", None):
                missing.append(f"{name} {param.opts[0]}")
    assert not missing, missing
