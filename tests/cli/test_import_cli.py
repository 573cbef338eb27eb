"""``civic import ...`` as a clerk runs it: the real command, in a process, on a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CIVIC = str(Path(sys.executable).parent / "civic")

CUSTOMERS = """
    Acct,first_name,last_name,SSR
    001001-01,Jane,O'Brien,SSR-1234567
    1002-1,Bob,Smith,
    """
TRANSACTIONS = """
    account_number,service,kind,amount,date,reference,external_id,voids
    001001-01,WA,CHG,68.27,12/15/2010,,C-1,
    001001-01,WA,PAY,$50,2011-01-20,1001,P-1,
    001001-01,,VOID,,2011-01-25,,V-1,P-1
    001002-01,SE,CHG,10.00,2011-01-15,,C-2,
    """
MAP = ["--map", "Acct=account_number", "-m", "SSR=ref:ssr"]


def civic(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIVIC_ACTOR": "clerk", "NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run([CIVIC, *args], capture_output=True, text=True, env=env, timeout=120)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def write(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return str(path)


def red_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.fixture
def ledger(sqlite_url: str) -> str:
    civic("init", "--db", sqlite_url, "--community", "SPRINGFIELD")
    return sqlite_url


def test_import_customers_and_transactions_then_again_adds_nothing(
    ledger: str, tmp_path: Path
) -> None:
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    first = civic("import", "customers", customers, *MAP, "--db", ledger)
    assert "2 rows read, 2 added, 0 updated, 0 unchanged, 0 rejected" in first.stdout
    assert first.stderr == ""
    again = civic("import", "customers", customers, *MAP, "--db", ledger)
    assert "2 rows read, 0 added, 0 updated, 2 unchanged, 0 rejected" in again.stdout
    txns = write(tmp_path, "txns.csv", TRANSACTIONS)
    result = json.loads(civic("import", "transactions", txns, "--db", ledger, "--json").stdout)
    assert (result["read"], result["added"], result["rejected"]) == (4, 4, 0)
    assert result["stored"] is True and result["problems"] == []
    balance = json.loads(civic("balance", "1001-1", "--db", ledger, "--json").stdout)
    assert balance["total"] == "68.27"
    shown = json.loads(civic("customers", "show", "1001-1", "--db", ledger, "--json").stdout)
    assert shown["refs"] == [{"type": "ssr", "value": "SSR-1234567"}]
    assert [t["kind"] for t in shown["recent_transactions"]] == ["VOID", "PAY", "CHG"]
    twice = json.loads(civic("import", "transactions", txns, "--db", ledger, "--json").stdout)
    assert (twice["added"], twice["unchanged"]) == (0, 4)


def test_rejected_rows_are_listed_written_beside_the_file_and_exit_1(
    ledger: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "people.csv", CUSTOMERS + "    bad,No,Account,\n    1003-1,,,\n")
    result = civic("import", "customers", path, *MAP, "--db", ledger, ok=False)
    assert red_line(result) == (
        f"error: 2 rows rejected (the others were stored): see {tmp_path / 'people.rejects.csv'}"
    )
    assert "2 added" in result.stdout
    assert "line 4: account_number: 'bad' is not an account number" in result.stdout
    assert "line 5: last_name or business_name is required" in result.stdout
    rejects = (tmp_path / "people.rejects.csv").read_text().splitlines()
    assert rejects[0] == "Acct,first_name,last_name,SSR,line,reason"
    assert rejects[2] == "1003-1,,,,5,last_name or business_name is required"


def test_json_output_stays_clean_when_rows_are_rejected(ledger: str, tmp_path: Path) -> None:
    path = write(tmp_path, "people.csv", CUSTOMERS + "    1003-1,,,\n")
    result = civic("import", "customers", path, *MAP, "--db", ledger, "--json", ok=False)
    red_line(result)
    data = json.loads(result.stdout)
    assert data["problems"] == [{"line": 4, "reason": "last_name or business_name is required"}]
    assert data["rejects_file"] == str(tmp_path / "people.rejects.csv")


def test_strict_stores_nothing_and_says_so(ledger: str, tmp_path: Path) -> None:
    path = write(tmp_path, "people.csv", CUSTOMERS + "    1003-1,,,\n")
    result = civic("import", "customers", path, *MAP, "--strict", "--db", ledger, ok=False)
    assert "--strict: 1 bad rows, nothing was stored" in red_line(result)
    assert "nothing stored (--strict)" in result.stdout
    listed = json.loads(civic("customers", "list", "--db", ledger, "--json").stdout)
    assert listed["total"] == 0


def test_an_unknown_column_is_one_red_line_naming_the_fields(ledger: str, tmp_path: Path) -> None:
    path = write(tmp_path, "people.csv", CUSTOMERS)
    line = red_line(civic("import", "customers", path, "--db", ledger, ok=False))
    assert "column 'Acct' is not a customers field" in line
    assert "account_number, first_name, middle_name" in line and "ref:TYPE" in line
    bad_map = civic("import", "customers", path, "--map", "Acct", "--db", ledger, ok=False)
    assert "expected COLUMN=FIELD" in red_line(bad_map)
    missing = civic("import", "orders", str(tmp_path / "nope.csv"), "--db", ledger, ok=False)
    assert "no file" in red_line(missing)


def test_readings_and_orders(ledger: str, tmp_path: Path) -> None:
    civic("import", "customers", write(tmp_path, "c.csv", CUSTOMERS), *MAP, "--db", ledger)
    readings = write(
        tmp_path,
        "readings.csv",
        """
        Account,Meter No,Reading,Read Date
        001001-01,M-1,1200,2024-01-31
        001001-01,M-1,1200,2024-01-31
        """,
    )
    mapping = ["-m", "Account=account_number", "-m", "Meter No=meter", "-m", "Reading=reading"]
    result = civic(
        "import", "readings", readings, *mapping, "-m", "Read Date=date", "--db", ledger, "--json"
    )
    data = json.loads(result.stdout)
    assert (data["added"], data["unchanged"]) == (1, 1)
    orders = write(
        tmp_path,
        "orders.csv",
        """
        account_number,order_number,kind,status,start_date,end_date,description
        001002-01,SO-1,service,active,2024-01-02,,Meter swap
        """,
    )
    out = civic("import", "orders", orders, "--db", ledger).stdout
    assert "1 rows read, 1 added" in out


def test_help_describes_every_import_command() -> None:
    for kind in ("customers", "transactions", "readings", "orders"):
        out = civic("import", kind, "--help").stdout
        assert "--map" in out and "--strict" in out and "--batch-size" in out
    assert "external_id" in civic("import", "transactions", "--help").stdout


def test_new_accounts_and_orders_are_matched_by_reference_first(
    ledger: str, tmp_path: Path
) -> None:
    civic("import", "customers", write(tmp_path, "c.csv", CUSTOMERS), *MAP, "--db", ledger)
    again = write(
        tmp_path,
        "again.csv",
        """
        Acct,first_name,last_name,SSR
        007001-01,Jane,OBrien,ssr 1234567
        007002-01,Ada,Quartermaine,
        """,
    )
    text = civic("import", "customers", again, *MAP, "--db", ledger).stdout
    assert "2 rows read, 1 added" in text
    assert "1 attached by reference, 0 attached by score, 0 held for review" in text
    assert "reference only: no saved matching model" in text
    data = json.loads(civic("import", "customers", again, *MAP, "--db", ledger, "--json").stdout)
    assert (data["attached_by_reference"], data["created"], data["added"]) == (1, 0, 0)
    assert data["screening"].startswith("reference only")
    listed = json.loads(civic("customers", "list", "--db", ledger, "--json").stdout)
    assert listed["total"] == 3
    orders = write(
        tmp_path,
        "po.csv",
        """
        order_number,start_date,kind,SSR
        PO-1,2026-01-05,purchase,SSR-1234567
        """,
    )
    result = civic("import", "orders", orders, "-m", "SSR=ref:ssr", "--db", ledger, "--json").stdout
    assert (json.loads(result)["added"], json.loads(result)["attached_by_reference"]) == (1, 1)
    assert json.loads(civic("match", "holds", "--db", ledger, "--json").stdout) == []
    assert "No held import rows." in civic("match", "holds", "--db", ledger).stdout
    missing = civic("match", "release", "99", "--db", ledger, ok=False)
    assert "no held import row 99" in red_line(missing)


def test_no_match_brings_every_row_of_a_legacy_export_in(ledger: str, tmp_path: Path) -> None:
    """A legacy export with one person twice (one reference): matched, one customer; with
    ``--no-match``, both rows become customers for `civic match run` to find."""
    body = """
        Acct,first_name,last_name,SSR
        008001-01,Jane,OBrien,SSR-7654321
        008002-01,Jane,O'Brien,ssr 7654321
        """
    matched = civic("import", "customers", write(tmp_path, "a.csv", body), *MAP, "--db", ledger)
    assert "2 rows read, 1 added" in matched.stdout
    other = ledger.replace("ledger", "legacy")
    civic("init", "--db", other, "--community", "SPRINGFIELD")
    path = write(tmp_path, "b.csv", body)
    data = json.loads(
        civic("import", "customers", path, *MAP, "--no-match", "--db", other, "--json").stdout
    )
    assert (data["added"], data["attached_by_reference"], data["screening"]) == (2, 0, None)
