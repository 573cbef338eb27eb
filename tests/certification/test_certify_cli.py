"""``civic certify`` end to end through the real command on a SQLite file."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from tests.cli.test_cli import run


def test_certify_the_seed_example_from_the_command_line(tmp_path: Path) -> None:
    db = str(tmp_path / "l.db")
    run("init", "--db", db, "--community", "SPRINGFIELD", "--name", "Springfield")
    run(
        "customers",
        "add",
        "1000-01",
        "--first-name",
        "Jane",
        "--last-name",
        "O'Brien",
        "--mailing-address",
        "12 Main St",
        db=db,
    )
    run("customers", "add", "2000-01", "--last-name", "Paid", db=db)
    for amount, on in (
        ("68.27", "12/15/2010"),
        ("70.51", "1/15/2011"),
        ("65.77", "2/15/2011"),
        ("68.88", "3/15/2011"),
    ):
        run("post", "charge", "1000-01", amount, "-s", "WA", "--date", on, db=db)
    created = json.loads(
        run(
            "certify",
            "create",
            "--date",
            "4/30/2011",
            "--period",
            "4/30/2011",
            "--fee",
            "25",
            "--collection-code",
            "TC",
            "--alert",
            "Tax certified {year}",
            "--json",
            db=db,
        ).stdout
    )
    assert (created["certified_customers"], created["certified"], created["fee"]) == (
        1,
        "204.55",
        "25.00",
    )
    listed = json.loads(run("certify", "list", "--json", db=db).stdout)
    assert [(x["account_number"], x["amount"], x["status"]) for x in listed] == [
        ("001000-01", "204.55", "pending")
    ]
    assert [ln["amount"] for ln in listed[0]["lines"]] == ["68.27", "70.51", "65.77"]

    early = run("certify", "update-balances", "--date", "4/29/2011", db=db, ok=False)
    assert early.returncode == 1 and "before certification run" in early.stderr
    posted = json.loads(
        run("certify", "update-balances", "--date", "5/2/2011", "--json", db=db).stdout
    )
    assert (posted["applied"], posted["adjusted"], posted["fees_amount"]) == (1, "204.55", "25.00")
    again = run("certify", "update-balances", "--date", "5/2/2011", db=db).stdout
    assert "Nothing to post" in again
    balance = json.loads(run("balance", "1000-01", "--json", db=db).stdout)
    assert balance["total"] == "93.88"  # 273.43 - 204.55 + 25.00 fee
    shown = json.loads(run("customers", "show", "1000-01", "--json", db=db).stdout)
    assert shown["collection_code"] == "TC" and shown["alerts"] == ["Tax certified 2011"]

    out_csv = tmp_path / "cert.csv"
    run("certify", "report", str(out_csv), db=db)
    rows = list(csv.DictReader(out_csv.open()))
    assert [(r["period_end"], r["amount"]) for r in rows] == [
        ("2010-12-31", "68.27"),
        ("2011-01-31", "70.51"),
        ("2011-02-28", "65.77"),
    ]
    assert rows[0]["status"] == "applied" and rows[0]["fee"] == "25.00"
    out_pdf = tmp_path / "cert.pdf"
    message = run("certify", "report", str(out_pdf), db=db).stdout
    assert "2 pages" in message
    data = out_pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type /Page\b", data)) == 2
