"""CSV import (``civic.ledger.imports``) on real SQLite and PostgreSQL ledgers: mapping,
encodings, every rejection reason with its line, the rejects file, --strict, re-import without
duplicates, every kind of transaction, readings, orders, the outbox, and crashes mid-import."""

from __future__ import annotations

import csv
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from civic.checks.registry import run_checks
from civic.db import read_only, transaction
from civic.errors import InvalidInput, NotFound
from civic.ledger import outbox, service
from civic.ledger.imports import ImportFailed, ImportProgress, ImportSummary, import_csv
from civic.ledger.imports_customers import CustomerImporter
from civic.ledger.tables import (
    AuditEntry,
    BillingPeriod,
    Customer,
    MeterReading,
    Order,
    Transaction,
)
from civic.ledger.types import CUSTOMER_FIELDS
from tests.builders import Town

TXN_HEADER = (
    "account_number,service,kind,amount,date,period,description,reference,external_id,voids"
)


def write(tmp_path: Path, body: str, name: str = "data.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(textwrap.dedent(body).lstrip("\n").encode(encoding))
    return path


def load(engine: Engine, kind: str, path: Path, **kwargs: Any) -> ImportSummary:
    return import_csv(engine, kind, path, actor="clerk", **kwargs)


def reasons(summary: ImportSummary) -> dict[int, str]:
    return {p.subject["line"]: p.message for p in summary.problems}


def counts(s: ImportSummary) -> tuple[int, int, int, int, int]:
    return (s.read, s.added, s.updated, s.unchanged, s.rejected)


def scalar(engine: Engine, stmt: Any) -> Any:
    with read_only(engine) as s:
        return s.scalar(stmt)


def count(engine: Engine, entity: Any) -> int:
    return int(scalar(engine, select(func.count()).select_from(entity)))


def feed_since(engine: Engine, seq: int) -> Counter[tuple[str, str]]:
    with read_only(engine) as s:
        return Counter((c.entity, c.op) for c in outbox.read_changes(s, seq, limit=100_000))


def last_seq(engine: Engine) -> int:
    with read_only(engine) as s:
        return outbox.last_seq(s)


def customer(engine: Engine, account: str) -> Customer:
    with read_only(engine) as s:
        found = service.get_customer(s, account)
        _ = found.refs
        return found


def rejects(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.reader(f))


def two_customers(town: Town) -> None:
    town.customer("Jane O'Brien", "001001-01")
    town.customer("Bob Smith", "001002-01")


# -- customers: columns, mapping, encodings ---------------------------------------------------


def test_customers_with_canonical_columns_are_added_with_refs_outbox_and_audit(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    town.customer("Existing Person", "000999-01")
    seq = last_seq(engine)
    path = write(
        tmp_path,
        """
        account_number,first_name,last_name,business_name,service_address,state,created_date,ref:ssr
        001001-01,Jane,O'Brien,,12 Main St,il,1/31/2010,SSR-1234567
        1002-1,,,Acme Hardware,14 Main St,,,
        00100301,Li,Chen,,,,,
        """,
    )
    summary = load(engine, "customers", path)
    assert counts(summary) == (3, 3, 0, 0, 0)
    assert summary.stored and summary.rejects_file is None and summary.encoding == "utf-8"
    jane = customer(engine, "1001-1")
    assert (jane.first_name, jane.last_name, jane.state) == ("Jane", "O'Brien", "IL")
    assert (jane.status, jane.online_access, jane.version) == ("active", True, 1)
    assert jane.created_date is not None and jane.created_date.isoformat() == "2010-01-31"
    assert [(r.ref_type, r.value, r.normalized) for r in jane.refs] == [
        ("ssr", "SSR-1234567", "SSR1234567")
    ]
    assert customer(engine, "001002-01").business_name == "Acme Hardware"
    assert feed_since(engine, seq) == Counter({("customer", "add"): 3})
    with read_only(engine) as s:
        actions = Counter(s.scalars(select(AuditEntry.action).where(AuditEntry.actor == "clerk")))
        diff = s.scalar(
            select(AuditEntry.changes).where(
                AuditEntry.action == "customer.add", AuditEntry.entity_id == jane.id
            )
        )
    assert actions == Counter({"customer.add": 3, "import.customers": 1})
    assert diff is not None
    assert diff["last_name"] == [None, "O'Brien"] and diff["ref:ssr"] == [None, "SSR-1234567"]


def test_mapped_columns_and_ignored_columns(engine: Engine, town: Town, tmp_path: Path) -> None:
    town.customer("Someone Else", "000999-01")
    path = write(
        tmp_path,
        """
        Acct No,Surname,Given,SSR,Notes
        001001-01,O'Brien,Jane,SSR 77,call first
        """,
    )
    mapping = {
        "Acct No": "account_number",
        "Surname": "last_name",
        "Given": "first_name",
        "SSR": "ref:SSR",
        "Notes": "-",
    }
    assert counts(load(engine, "customers", path, mapping=mapping)) == (1, 1, 0, 0, 0)
    jane = customer(engine, "001001-01")
    assert (jane.first_name, jane.last_name) == ("Jane", "O'Brien")
    assert [(r.ref_type, r.normalized) for r in jane.refs] == [("ssr", "SSR77")]


def test_an_unknown_column_is_an_error_listing_the_canonical_names(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    town.customer("Someone Else", "000999-01")
    path = write(tmp_path, "account_number,last_name,Colour\n001001-01,Smith,blue\n")
    with pytest.raises(InvalidInput) as err:
        load(engine, "customers", path)
    message = err.value.message
    assert "'Colour'" in message and "--map 'Colour=FIELD'" in message
    assert all(name in message for name in CUSTOMER_FIELDS) and "ref:TYPE" in message
    with pytest.raises(InvalidInput, match="'colour' is not a customers field"):
        load(engine, "customers", path, mapping={"Colour": "colour"})
    with pytest.raises(InvalidInput, match="the file has no column 'Color'"):
        load(engine, "customers", path, mapping={"Color": "-"})
    both = write(tmp_path, "account_number,Surname,last_name\n", name="both.csv")
    with pytest.raises(InvalidInput, match="both give last_name"):
        load(engine, "customers", both, mapping={"Surname": "last_name"})
    assert count(engine, Customer) == 1


def test_files_without_required_columns_or_header_are_refused(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    two_customers(town)
    no_amount = write(tmp_path, "account_number,service,kind,date\n001001-01,WA,CHG,2024-01-01\n")
    with pytest.raises(InvalidInput, match="no amount column"):
        load(engine, "transactions", no_amount)
    with pytest.raises(InvalidInput, match="no header row"):
        load(engine, "customers", write(tmp_path, "", name="empty.csv"))
    with pytest.raises(NotFound):
        load(engine, "customers", tmp_path / "missing.csv")
    with pytest.raises(InvalidInput, match="cannot import 'payments'"):
        load(engine, "payments", no_amount)


def test_utf8_bom_and_windows_1252_files(engine: Engine, town: Town, tmp_path: Path) -> None:
    town.customer("Someone Else", "000999-01")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + "account_number,last_name\n001001-01,Zoë\n".encode())
    summary = load(engine, "customers", bom)
    assert (summary.encoding, summary.added) == ("utf-8-sig", 1)
    assert customer(engine, "001001-01").last_name == "Zoë"
    body = "account_number,last_name,city\n001002-01,Peña,Montréal\n001003-01,,Søborg\n"
    legacy = write(tmp_path, body, name="legacy.csv", encoding="cp1252")
    summary = load(engine, "customers", legacy)
    assert (summary.encoding, summary.added, summary.rejected) == ("cp1252", 1, 1)
    assert (customer(engine, "001002-01").last_name, customer(engine, "1002-1").city) == (
        "Peña",
        "Montréal",
    )
    assert summary.rejects_file is not None
    assert rejects(Path(summary.rejects_file), "cp1252")[1][:3] == ["001003-01", "", "Søborg"]


# -- rejected rows --------------------------------------------------------------------------


def test_each_bad_customer_row_is_reported_with_its_line_and_written_to_rejects(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    town.customer("Someone Else", "000999-01")
    long_name = "x" * 61
    path = write(
        tmp_path,
        f"""
        account_number,first_name,last_name,email
        001001-01,Jane,O'Brien,jane@example.com
        ,No,Account,
        12-34-56,Bad,Account,
        001003-01,A,Twice,

        001004-01,Long,{long_name},
        001003-01,B,Twice,
        001005-01,Bad,Email,nope
        001006-01,Nameless,,
        001007-01,Too,Many,a@b.co,extra
        001008-01,Good,Row,
        """,
        name="customers.csv",
    )
    summary = load(engine, "customers", path)
    assert counts(summary) == (10, 2, 0, 0, 8)
    assert reasons(summary) == {
        3: "account_number: required",
        4: "account_number: '12-34-56' is not an account number "
        "(expected location-occupant such as 001234-01)",
        5: "account_number: 001003-01 is on several lines (5, 8); it may appear only once",
        7: "last_name: longer than 60 characters (61)",
        8: "account_number: 001003-01 is on several lines (5, 8); it may appear only once",
        9: "email: 'nope' is not an e-mail address",
        10: "last_name or business_name is required",
        11: "5 values, but the header has 4 columns",
    }
    assert summary.rejects_file == str(tmp_path / "customers.rejects.csv")
    rows = rejects(tmp_path / "customers.rejects.csv")
    assert rows[0] == ["account_number", "first_name", "last_name", "email", "line", "reason"]
    assert rows[1] == ["", "No", "Account", "", "3", "account_number: required"]
    assert rows[4][:5] == ["001004-01", "Long", long_name, "", "7"]
    assert rows[8][:6] == ["001007-01", "Too", "Many", "a@b.co", "11", summary.problems[7].message]
    assert [r[4] for r in rows[1:]] == ["3", "4", "5", "7", "8", "9", "10", "11"]
    with read_only(engine) as s:
        accounts = set(s.scalars(select(Customer.account_number)))
    assert accounts == {"000999-01", "001001-01", "001008-01"}


def test_each_bad_transaction_row_is_reported_and_nothing_of_it_stored(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    two_customers(town)
    with transaction(engine) as s:
        service.close_customer(s, service.get_customer(s, "001002-01"), actor="t")
    path = write(
        tmp_path,
        f"""
        {TXN_HEADER}
        001001-01,WA,CHG,68.27,2024-01-15,,,,,
        009999-01,WA,CHG,1.00,2024-01-15,,,,,
        001001-01,XX,CHG,1.00,2024-01-15,,,,,
        001001-01,WA,CHG,1.005,2024-01-15,,,,,
        001001-01,WA,CHG,1.00,2024-13-45,,,,,
        001001-01,WA,CHG,,2024-01-15,,,,,
        001001-01,WA,PAY,-5.00,2024-01-15,,,,,
        001001-01,WA,CHG,0,2024-01-15,,,,,
        001001-01,WA,XYZ,1.00,2024-01-15,,,,,
        001001-01,WA,CHG,1.00,2024-01-15,,{"d" * 201},,,
        001002-01,WA,CHG,1.00,2024-01-15,,,,,
        001001-01,,VOID,,2024-01-20,,,,,
        001001-01,,VOID,,2024-01-20,,,,,NOPE
        001001-01,WA,FEE,0,2024-01-15,,,,,
        001001-01,WA,CHG,1.00,2024-01-15,,,,{"e" * 65},
        001001-01,WA,PADJ,0.00,2024-01-15,,,,,
        001001-01,WA,CHG,1.00,2024-01-15,,,{"r" * 41},,
        """,
    )
    summary = load(engine, "transactions", path)
    assert counts(summary) == (17, 1, 0, 0, 16)
    got = reasons(summary)
    expected = {
        3: "account_number: no customer with account 009999-01 in community SPRINGFIELD",
        4: "service: no service 'XX' (known: GA, SE, WA)",
        5: "amount: not an amount: '1.005'",
        6: "date: '2024-13-45' is not a date",
        7: "amount: required",
        8: "amount: a payment must be more than 0.00",
        9: "amount: a charge cannot be 0.00",
        10: "kind: 'XYZ' is not one of CHG, PAY, PADJ, FEE, VOID",
        11: "description: longer than 200 characters (201)",
        12: "account 001002-01 is closed: no new charges",
        13: "voids: say which payment is voided",
        14: "voids: no payment with external_id 'NOPE'",
        15: "amount: a fee must be more than 0.00",
        16: "external_id: longer than 64 characters (65)",
        17: "amount: an adjustment cannot be 0.00",
        18: "reference: longer than 40 characters (41)",
    }
    assert set(got) == set(expected)
    for line, start in expected.items():
        assert got[line].startswith(start), (line, got[line])
    assert count(engine, Transaction) == 1


def test_strict_stores_nothing_when_a_row_is_bad(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    town.customer("Someone Else", "000999-01")
    seq = last_seq(engine)
    path = write(
        tmp_path,
        """
        account_number,last_name
        001001-01,Good
        001002-01,Good
        001003-01,
        001004-01,Good
        """,
    )
    summary = load(engine, "customers", path, strict=True, batch_size=2)
    assert not summary.stored and summary.strict
    assert counts(summary) == (4, 0, 0, 0, 1)
    assert reasons(summary) == {4: "last_name or business_name is required"}
    assert count(engine, Customer) == 1 and feed_since(engine, seq) == Counter()
    assert (tmp_path / "data.rejects.csv").exists()
    fixed = write(tmp_path, "account_number,last_name\n001001-01,Good\n001002-01,Good\n")
    summary = load(engine, "customers", fixed, strict=True, batch_size=1)
    assert summary.stored and counts(summary) == (2, 2, 0, 0, 0)
    assert summary.batches == 2 and not (tmp_path / "data.rejects.csv").exists()


# -- re-import -------------------------------------------------------------------------------


def test_reimporting_customers_adds_nothing_and_updates_what_changed(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    town.customer("Someone Else", "000999-01")
    body = """
        account_number,first_name,last_name,email,status,ref:ssr
        001001-01,Jane,O'Brien,jane@example.com,closed,SSR-1
        001002-01,Bob,Smith,,,
        """
    load(engine, "customers", write(tmp_path, body))
    seq = last_seq(engine)
    again = load(engine, "customers", write(tmp_path, body))
    assert counts(again) == (2, 0, 0, 2, 0)
    assert feed_since(engine, seq) == Counter()
    changed = """
        account_number,first_name,last_name,email,status,ref:ssr
        001001-01,Jane,O'Brien,jane@new.example.com,,SSR1
        001002-01,Bob,Smith,,,SSR-2
        """
    summary = load(engine, "customers", write(tmp_path, changed))
    assert counts(summary) == (2, 0, 2, 0, 0)
    jane = customer(engine, "001001-01")
    assert (jane.email, jane.status, jane.version) == ("jane@new.example.com", "closed", 2)
    assert [r.value for r in jane.refs] == ["SSR-1"]  # SSR1 is the same reference
    bob = customer(engine, "001002-01")
    assert bob.version == 2 and [r.value for r in bob.refs] == ["SSR-2"]
    assert feed_since(engine, seq) == Counter({("customer", "update"): 2})
    with read_only(engine) as s:
        diffs = list(
            s.scalars(
                select(AuditEntry.changes)
                .where(AuditEntry.action == "customer.update")
                .order_by(AuditEntry.entity_id)
            )
        )
    assert diffs == [
        {"email": ["jane@example.com", "jane@new.example.com"]},
        {"ref:ssr": [None, "SSR-2"]},
    ]
    assert count(engine, Customer) == 3


def test_a_customer_changed_meanwhile_is_never_overwritten(
    engine: Engine, town: Town, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    town.customer("Jane O'Brien", "001001-01")
    stored = CustomerImporter._stored

    def seen_before_a_concurrent_update(self: CustomerImporter, *args: Any) -> Any:
        found = stored(self, *args)
        for row in found.values():
            row["version"] -= 1  # as if another clerk saved the customer after we read it
        return found

    monkeypatch.setattr(CustomerImporter, "_stored", seen_before_a_concurrent_update)
    path = write(tmp_path, "account_number,last_name\n001001-01,Smith\n001002-01,New\n")
    with pytest.raises(ImportFailed, match="changed by someone else"):
        load(engine, "customers", path)
    assert customer(engine, "001001-01").last_name == "O'Brien"
    assert count(engine, Customer) == 1


# -- transactions ----------------------------------------------------------------------------

EVERY_KIND = f"""
    {TXN_HEADER}
    001001-01,WA,CHG,68.27,2024-01-15,,January water,,,
    001001-01,SE,CHG,40.00,2024-02-03,2024-01-05,,,,
    001001-01,WA,FEE,10.00,2024-02-01,,Late fee,,,
    001001-01,WA,PADJ,-5.00,2024-02-02,,Courtesy,,,
    001001-01,WA,PAY,"$1,050.00",2024-02-10,,,1001,P-1,
    001001-01,WA,PAY,20.00,2024-02-11,,,1002,,
    001001-01,WA,PAY,20.00,2024-02-11,,,1002,,
    001001-01,,VOID,,2024-02-15,,,,V-1,P-1
    001002-01,GA,PAY,30.00,2024-02-12,,,777,,
    001002-01,,void,30.00,2024-02-16,,Bounced,777,,
    """


def test_every_kind_of_transaction_is_stored_with_its_signed_effect(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    two_customers(town)
    seq = last_seq(engine)
    summary = load(engine, "transactions", write(tmp_path, EVERY_KIND))
    assert counts(summary) == (10, 10, 0, 0, 0)
    with read_only(engine) as s:
        stored = s.execute(
            select(
                Transaction.id,
                Transaction.kind,
                Transaction.amount_cents,
                Transaction.voids_id,
                Transaction.reference,
                Transaction.description,
                Transaction.import_key,
                BillingPeriod.period_end,
            )
            .join(BillingPeriod, BillingPeriod.id == Transaction.period_id)
            .order_by(Transaction.txn_date, Transaction.id)
        ).all()
        problems = list(run_checks(s))
    by_key = {r.import_key: r for r in stored}
    assert sorted((r.kind, r.amount_cents) for r in stored) == sorted(
        [
            ("CHG", 6827),
            ("CHG", 4000),
            ("FEE", 1000),
            ("PADJ", -500),
            ("PAY", -105000),
            ("PAY", -2000),
            ("PAY", -2000),
            ("VOID", 105000),
            ("PAY", -3000),
            ("VOID", 3000),
        ]
    )
    void = by_key["V-1"]
    assert void.voids_id == by_key["P-1"].id and void.reference == "1001"
    assert void.description == f"Void of payment {by_key['P-1'].id}"
    assert void.period_end.isoformat() == "2024-02-29"
    sewer = next(r for r in stored if r.amount_cents == 4000)
    assert sewer.period_end.isoformat() == "2024-01-31"  # the period column, not the date
    bounced = next(r for r in stored if r.description == "Bounced")
    bob_payment = next(r for r in stored if r.amount_cents == -3000)
    assert bounced.voids_id == bob_payment.id
    assert problems == []
    with read_only(engine) as s:
        jane = service.balance_report(s, service.get_customer(s, "001001-01"))
    assert jane.total == 6827 + 4000 + 1000 - 500 - 2000 - 2000
    assert feed_since(engine, seq) == Counter({("transaction", "post"): 10})
    with read_only(engine) as s:
        audit = s.scalar(
            select(AuditEntry.changes).where(AuditEntry.action == "import.transactions")
        )
    assert audit is not None and audit["added"] == 10 and audit["lines"] == [2, 11]

    again = load(engine, "transactions", write(tmp_path, EVERY_KIND))
    assert counts(again) == (10, 0, 0, 10, 0)
    assert count(engine, Transaction) == 10


def test_an_external_id_imported_before_with_other_values_is_rejected(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    two_customers(town)
    load(
        engine,
        "transactions",
        write(tmp_path, f"{TXN_HEADER}\n001001-01,WA,CHG,5,2024-01-01,,,,C-1,\n"),
    )
    changed = write(tmp_path, f"{TXN_HEADER}\n001001-01,WA,CHG,6,2024-01-01,,,,C-1,\n")
    summary = load(engine, "transactions", changed)
    assert counts(summary) == (1, 0, 0, 0, 1)
    assert "C-1 was imported before with different values" in reasons(summary)[2]
    assert count(engine, Transaction) == 1


def test_voids_follow_the_ledgers_rules(engine: Engine, town: Town, tmp_path: Path) -> None:
    two_customers(town)
    jane = town.customer("Jane Doe", "001003-01")
    (stored_payment,) = jane.pay("25.00", "2024-01-05", svc="WA", ref="555")
    charge = f"{TXN_HEADER}\n001001-01,WA,CHG,10.00,2024-02-10,,,,C-2,\n"
    load(engine, "transactions", write(tmp_path, charge, name="charge.csv"))
    path = write(
        tmp_path,
        f"""
        {TXN_HEADER}
        001001-01,WA,PAY,50.00,2024-02-10,,,1001,P-1,
        001001-01,,VOID,,2024-02-15,,,,V-1,P-1
        001001-01,,VOID,,2024-02-16,,,,V-2,P-1
        001002-01,,VOID,,2024-02-16,,,,V-3,P-1
        001001-01,,VOID,,2024-02-16,,,,V-4,P-2
        001001-01,WA,PAY,10.00,2024-02-10,,,2001,P-2,
        001001-01,WA,PAY,10.00,2024-02-10,,,2001,P-3,
        001001-01,,VOID,,2024-02-17,,,2001,V-5,
        001001-01,,VOID,12.00,2024-02-17,,,,V-6,P-2
        001001-01,WA,CHG,10.00,2024-02-10,,,,C-1,
        001001-01,,VOID,,2024-02-17,,,,V-7,C-1
        001003-01,SE,VOID,,2024-02-17,,,555,V-8,
        001003-01,,VOID,,2024-02-17,,,555,V-9,
        001001-01,,VOID,,2024-02-17,,,9999,V-10,P-3
        001001-01,SE,VOID,,2024-02-17,,,,V-11,P-3
        001001-01,,VOID,,2024-02-17,,,,V-12,C-2
        """,
    )
    summary = load(engine, "transactions", path)
    got = reasons(summary)
    assert got == {
        4: "voids: payment 'P-1' was already voided",
        5: "voids: payment 'P-1' is not on account 001002-01",
        6: "voids: no payment with external_id 'P-2' in the ledger or on an earlier line of "
        "this file",
        9: "reference: 2 payments with reference '2001' on account 001001-01: name one with "
        "voids (its external_id)",
        10: "amount: 12.00 is not the voided payment's 10.00",
        12: "voids: no payment with external_id 'C-1' in the ledger or on an earlier line of "
        "this file",
        13: "reference: no payment left to void with reference '555' on account 001003-01 "
        "for service SE",
        15: "reference: '9999' is not the voided payment's reference (2001)",
        16: "service: the voided payment is on WA, not SE",
        17: "voids: 'C-2' is a CHG, only payments (PAY) can be voided",
    }
    assert summary.added == 6
    with read_only(engine) as s:
        v9 = s.execute(
            select(Transaction.voids_id, Transaction.amount_cents).where(
                Transaction.import_key == "V-9"
            )
        ).one()
        assert list(run_checks(s)) == []
    assert tuple(v9) == (stored_payment, 2500)


def test_a_void_finds_its_payment_in_an_earlier_batch_also_in_strict_mode(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    two_customers(town)
    body = f"""
        {TXN_HEADER}
        001001-01,WA,PAY,50.00,2024-02-10,,,1001,,
        001001-01,WA,CHG,50.00,2024-02-10,,,,,
        001001-01,,VOID,,2024-02-15,,,1001,,
        001001-01,,VOID,,2024-02-16,,,1001,,
        """
    summary = load(engine, "transactions", write(tmp_path, body), strict=True, batch_size=2)
    assert not summary.stored and reasons(summary) == {
        5: "reference: no payment left to void with reference '1001' on account 001001-01"
    }
    body = body.replace("001001-01,,VOID,,2024-02-16,,,1001,,", "")
    for strict in (True, False):
        summary = load(engine, "transactions", write(tmp_path, body), strict=strict, batch_size=2)
        assert summary.rejected == 0
    assert count(engine, Transaction) == 3
    with read_only(engine) as s:
        void_target = s.scalar(select(Transaction.voids_id).where(Transaction.kind == "VOID"))
        payment = s.scalar(select(Transaction.id).where(Transaction.kind == "PAY"))
    assert void_target == payment


# -- readings and orders ---------------------------------------------------------------------


def test_readings_skip_duplicates_and_reject_bad_values(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    two_customers(town)
    seq = last_seq(engine)
    body = """
        account_number,meter,reading,date,period
        001001-01,M-1,1200,2024-01-31,
        001001-01,M-1,1200,1/31/2024,
        001001-01,M-1,1350,2024-02-29,
        001002-01,M-2,-5,2024-01-31,
        001002-01,M-2,12.5,2024-01-31,
        001002-01,,100,2024-01-31,
        001002-01,M-2,"1,100",2024-02-03,2024-01-15
        """
    summary = load(engine, "readings", write(tmp_path, body))
    assert counts(summary) == (7, 3, 0, 1, 3)
    assert reasons(summary) == {
        5: "reading: cannot be negative",
        6: "reading: '12.5' is not a whole number",
        7: "meter: required",
    }
    with read_only(engine) as s:
        m2 = s.execute(
            select(MeterReading.reading, BillingPeriod.period_end)
            .join(BillingPeriod, BillingPeriod.id == MeterReading.period_id)
            .where(MeterReading.meter_number == "M-2")
        ).one()
    assert (m2.reading, m2.period_end.isoformat()) == (1100, "2024-01-31")
    assert feed_since(engine, seq) == Counter({("reading", "add"): 3})
    again = load(engine, "readings", write(tmp_path, body))
    assert counts(again) == (7, 0, 0, 4, 3)
    assert count(engine, MeterReading) == 3


def test_orders_are_added_then_updated_by_order_number(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    two_customers(town)
    seq = last_seq(engine)
    body = """
        account_number,order_number,kind,status,start_date,end_date,description
        001001-01,SO-1,service,active,2024-01-02,,Meter swap
        001001-01,PO-7,Purchase,,2024-01-05,2024-01-20,Parts
        001002-01,SO-2,repair,active,2024-01-02,,
        001002-01,SO-3,service,active,2024-02-02,2024-01-01,
        001002-01,,service,active,2024-02-02,,
        """
    summary = load(engine, "orders", write(tmp_path, body))
    assert counts(summary) == (5, 2, 0, 0, 3)
    assert reasons(summary) == {
        4: "kind: 'repair' is not purchase or service",
        5: "end_date: before start_date",
        6: "order_number: required",
    }
    with read_only(engine) as s:
        po = s.scalars(select(Order).where(Order.order_number == "PO-7")).one()
        assert (po.kind, po.status, po.description) == ("purchase", "active", "Parts")
    changed = """
        account_number,order_number,kind,status,start_date,end_date,description
        001001-01,SO-1,,closed,2024-01-02,2024-03-01,Meter swap
        001001-01,PO-7,purchase,active,2024-01-05,2024-01-20,Parts
        001002-01,SO-9,service,active,2024-01-02,,
        """
    summary = load(engine, "orders", write(tmp_path, changed))
    assert counts(summary) == (3, 1, 1, 1, 0)
    with read_only(engine) as s:
        so = s.scalars(select(Order).where(Order.order_number == "SO-1")).one()
        diff = s.scalar(select(AuditEntry.changes).where(AuditEntry.action == "order.update"))
    assert (so.kind, so.status, so.end_date.isoformat() if so.end_date else None) == (
        "service",
        "closed",
        "2024-03-01",
    )
    assert diff == {"status": ["active", "closed"], "end_date": [None, "2024-03-01"]}
    assert feed_since(engine, seq) == Counter({("order", "add"): 3, ("order", "update"): 1})
    moved = write(tmp_path, "account_number,order_number,start_date\n001002-01,SO-1,2024-01-02\n")
    assert reasons(load(engine, "orders", moved)) == {
        2: "order_number: order SO-1 belongs to another account"
    }


# -- crashes ---------------------------------------------------------------------------------

FIVE = """
    account_number,last_name
    001001-01,One
    001002-01,Two
    001003-01,Three
    001004-01,Boom
    001005-01,Five
    """


def test_an_interrupt_mid_import_rolls_back_only_the_unfinished_batch(
    engine: Engine, town: Town, tmp_path: Path
) -> None:
    town.customer("Someone Else", "000999-01")
    seq = last_seq(engine)
    ticks: list[ImportProgress] = []

    def interrupt_second_batch(p: ImportProgress) -> None:
        ticks.append(p)
        if p.phase == "importing" and len([t for t in ticks if t.phase == "importing"]) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load(
            engine,
            "customers",
            write(tmp_path, FIVE),
            batch_size=2,
            progress=interrupt_second_batch,
        )
    first = next(t for t in ticks if t.phase == "importing")
    assert first.rows == 2 and 0 < first.bytes_done <= first.bytes_total
    with read_only(engine) as s:
        accounts = set(s.scalars(select(Customer.account_number)))
    assert accounts == {"000999-01", "001001-01", "001002-01"}
    assert feed_since(engine, seq) == Counter({("customer", "add"): 2})
    summary = load(engine, "customers", write(tmp_path, FIVE), batch_size=2)
    assert counts(summary) == (5, 3, 0, 2, 0)


def _install_boom_trigger(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON customers WHEN NEW.last_name = 'Boom' "
                    "BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
                )
            )
            return
        conn.execute(
            text(
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                "IF NEW.last_name = 'Boom' THEN RAISE EXCEPTION 'boom refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER boom BEFORE INSERT ON customers FOR EACH ROW "
                "EXECUTE FUNCTION boom()"
            )
        )


@pytest.mark.parametrize("strict", [False, True])
def test_a_row_the_database_refuses_after_validation_loses_only_its_batch(
    engine: Engine, town: Town, tmp_path: Path, strict: bool
) -> None:
    town.customer("Someone Else", "000999-01")
    _install_boom_trigger(engine)
    seq = last_seq(engine)
    with pytest.raises(ImportFailed) as err:
        load(engine, "customers", write(tmp_path, FIVE), batch_size=2, strict=strict)
    assert "boom refused" in err.value.message
    with read_only(engine) as s:
        accounts = set(s.scalars(select(Customer.account_number)))
    if strict:
        assert "nothing was stored" in err.value.message
        assert accounts == {"000999-01"} and feed_since(engine, seq) == Counter()
        assert err.value.summary.added == 0
    else:
        assert "nothing of lines 4-5 was stored" in err.value.message
        assert accounts == {"000999-01", "001001-01", "001002-01"}
        assert feed_since(engine, seq) == Counter({("customer", "add"): 2})
        assert err.value.summary.added == 2
