"""Each integrity check finds exactly the problem planted for it, and a clean ledger has none."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.engine import Engine

from civic.certification.run import CreateOptions, create_certifications, update_balances
from civic.certification.tables import CertificationPosting
from civic.checks.registry import CHECKS, run_checks
from civic.db import make_engine, transaction
from civic.ledger import service
from civic.ledger.tables import Transaction

D = date(2024, 1, 15)


def without_constraints(engine: Engine, sql: str) -> None:
    """Write as legacy data would: foreign keys off (the only way to plant an orphan)."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute("PRAGMA foreign_keys=OFF")  # outside a transaction, where it applies
            cur.execute(sql)
        else:
            cur.execute("SET session_replication_role = replica")
            cur.execute(sql)
            raw.commit()
    finally:
        raw.close()


@pytest.fixture
def clean(town, engine):  # type: ignore[no-untyped-def]
    """A small ledger with one of everything, and no problems."""
    ann = town.customer("Ann Lee", account="1000-01")
    ann.charge("WA", "50.00", "2023-10-05")
    (pay,) = ann.pay("20.00", "2023-10-20", svc="WA", ref="CHK7")
    ann.void(pay, "2023-10-25")
    town.customer("Acme Apartments", account="2000-01", business=True)
    town.customer("Bob Lee", account="2001-01", master_account="2000-01")
    with transaction(engine) as s:
        c = service.get_customer(s, "1000-01")
        service.add_reading(s, c, "M-1", 100, D, actor="t")
        service.add_reading(s, c, "M-1", 150, date(2024, 2, 15), actor="t")
        service.add_order(s, c, "SO-1", D, actor="t")
        comm = service.get_community(s)
        create_certifications(s, comm, CreateOptions(cert_date=D, period=D), actor="t")
        update_balances(s, comm, posted_date=D, actor="t")
    return engine


def problems(engine: Engine) -> list[tuple[str, str]]:
    with transaction(engine) as s:
        return [(p.source, p.message) for p in run_checks(s)]


def test_clean_ledger_has_no_problems(clean) -> None:
    assert problems(clean) == []


def test_duplicate_void_of_a_payment(clean) -> None:
    with transaction(clean) as s:
        void = s.query(Transaction).filter_by(kind="VOID").one()
        s.add(
            Transaction(
                customer_id=void.customer_id,
                service_id=void.service_id,
                period_id=void.period_id,
                kind="VOID",
                amount_cents=void.amount_cents,
                txn_date=void.txn_date,
                reference=void.reference,
                voids_id=void.voids_id,
                posted_by="legacy",
                posted_at=datetime.now(UTC),
            )
        )
        s.flush()
        ids = sorted(t.id for t in s.query(Transaction).filter_by(kind="VOID"))
    found = problems(clean)
    assert {src for src, _ in found} == {"duplicate-voids"}
    assert any(f"void transactions {ids[0]}, {ids[1]}" in m for _, m in found)
    assert any("check CHK7" in m for _, m in found)


def test_duplicate_meter_readings(clean) -> None:
    with transaction(clean) as s:
        service.add_reading(s, service.get_customer(s, "1000-01"), "M-1", 120, D, actor="t")
    (found,) = problems(clean)
    assert found[0] == "duplicate-readings"
    assert "meter M-1 has 2 readings for the period ending 2024-01-31" in found[1]


def test_consolidated_billing_without_an_active_master(clean) -> None:
    with transaction(clean) as s:
        service.update_customer(
            s, service.get_customer(s, "2000-01"), {"status": "inactive"}, actor="t"
        )
    (found,) = problems(clean)
    assert found == (
        "consolidated-billing",
        "account 002001-01 is billed through master account 002000-01, which is inactive",
    )


@pytest.mark.parametrize("table", ["transactions", "meter_readings", "orders", "certifications"])
def test_orphans(clean, table) -> None:
    without_constraints(
        clean, f"UPDATE {table} SET customer_id = 999999 WHERE id = (SELECT max(id) FROM {table})"
    )
    found = problems(clean)
    assert found and all(src == "orphans" for src, _ in found)
    assert "customer id 999999, which does not exist" in found[0][1]


def test_records_left_on_a_merged_away_customer(clean, town) -> None:
    from civic.merge.apply import apply_merge

    town.customer("Ann Lee", account="1000-02")
    with transaction(clean) as s:
        keep, dup = service.get_customer(s, "1000-02"), service.get_customer(s, "1000-01")
        service.close_order(s, service.get_community(s), "SO-1", D, actor="t")
        apply_merge(s, dup, keep, actor="t")
    assert problems(clean) == []  # a merge moves everything: nothing left behind
    without_constraints(
        clean,
        "UPDATE meter_readings SET customer_id = (SELECT id FROM customers WHERE "
        "account_number = '001000-01') WHERE id = (SELECT max(id) FROM meter_readings)",
    )
    (found,) = problems(clean)
    assert found[0] == "merged-away"
    assert "still belongs to 001000-01, which was merged into 001000-02" in found[1]


def test_duplicate_certification_posting(clean) -> None:
    with transaction(clean) as s:
        first = s.query(CertificationPosting).one()
        s.add(
            CertificationPosting(
                certification_id=first.certification_id,
                generation=2,
                kind="apply",
                posted_date=D,
                posted_at=first.posted_at,
                posted_by="legacy",
            )
        )
    (found,) = problems(clean)
    assert found[0] == "duplicate-certifications"
    assert "posted 2 times and reversed 0 times" in found[1]


def test_every_check_is_registered_once() -> None:
    names = [name for name, _, _ in CHECKS]
    assert len(names) == len(set(names)) == 6


def test_civic_check_command_exit_status_and_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.cli.test_cli import run

    db = str(tmp_path / "l.db")
    run("init", "--db", db, "--community", "SPRINGFIELD")
    run("customers", "add", "1000-01", "--last-name", "Lee", db=db)
    assert "No problems found (6 checks" in run("check", db=db).stdout
    engine = make_engine(db)
    with transaction(engine) as s:
        c = service.get_customer(s, "1000-01")
        for value in (10, 11):
            service.add_reading(s, c, "M-9", value, D, actor="t")
    engine.dispose()
    result = run("check", "--json", db=db, ok=False)
    assert result.returncode == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["check"] == "duplicate-readings"
    assert problem["subject"]["meter"] == "M-9" and len(problem["subject"]["reading_ids"]) == 2
    assert problem["fix"]
    bad = run("check", "--only", "nope", db=db, ok=False)
    assert bad.returncode == 1 and "no check 'nope'" in bad.stderr
