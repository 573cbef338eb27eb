"""Loading the sample town into a real ledger (SQLite and PostgreSQL): what the summary says is
what the tables hold, balances agree with the ledger's own rules, every change has its outbox
row, the truth holds in the database, and a second load is refused."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from civic.checks.registry import run_checks
from civic.db import make_engine, read_only, transaction
from civic.demo.load import load_demo
from civic.demo.model import DemoOptions
from civic.demo.summary import DELINQUENT_PERIODS, DemoSummary
from civic.demo.truth import TruthGroup
from civic.errors import Conflict
from civic.ledger import service
from civic.ledger.tables import (
    AlertMessage,
    AuditEntry,
    Customer,
    CustomerRef,
    MeterReading,
    Order,
    OutboxEntry,
    Transaction,
)
from civic.money import Cents

OPTIONS = DemoOptions(seed=3, customers=150)


@pytest.fixture
def loaded(engine: Engine) -> tuple[DemoSummary, dict[str, Any]]:
    return load_demo(engine, OPTIONS, batch_size=40)


def _count(engine: Engine, column: Any, *where: Any) -> int:
    with read_only(engine) as s:
        return int(s.scalar(select(func.count(column)).where(*where)) or 0)


def _grouped(engine: Engine, column: Any) -> dict[str, int]:
    with read_only(engine) as s:
        return {k: int(n) for k, n in s.execute(select(column, func.count()).group_by(column))}


def test_summary_counts_are_table_counts(engine: Engine, loaded: Any) -> None:
    summary, _ = loaded
    assert summary.customers == OPTIONS.customers == _count(engine, Customer.id)
    assert summary.customers_by_status == {
        s: _grouped(engine, Customer.status).get(s, 0) for s in ("active", "inactive", "closed")
    }
    kinds = _grouped(engine, Transaction.kind)
    assert summary.transactions_by_kind == {
        k: kinds.get(k, 0) for k in summary.transactions_by_kind
    }
    assert summary.readings == _count(engine, MeterReading.id)
    orders = _grouped(engine, Order.status)
    assert summary.orders_by_status == {s: orders.get(s, 0) for s in ("active", "closed")}
    assert summary.refs_by_type == _grouped(engine, CustomerRef.ref_type)
    assert summary.alerts == _count(engine, AlertMessage.id)
    assert summary.no_online_access == _count(
        engine, Customer.id, Customer.online_access.is_(False)
    )
    assert summary.consolidated_members == _count(
        engine, Customer.id, Customer.master_customer_id.is_not(None)
    )
    assert summary.outbox_rows == _count(engine, OutboxEntry.seq)
    assert _count(engine, AuditEntry.id, AuditEntry.action == "demo.load") == 4  # 150 / 40


def test_balances_agree_with_the_ledger(engine: Engine, loaded: Any) -> None:
    summary, _ = loaded
    delinquent = 0
    with read_only(engine) as s:
        balances = dict(
            s.execute(
                select(Transaction.customer_id, func.sum(Transaction.amount_cents)).group_by(
                    Transaction.customer_id
                )
            ).all()
        )
        for customer in s.scalars(select(Customer)):
            report = service.balance_report(s, customer)
            assert report.total == balances.get(customer.id, 0)
            owing = {
                p.period_end for svc in report.services for p in svc.periods if p.outstanding > 0
            }
            delinquent += report.total > 0 and len(owing) >= DELINQUENT_PERIODS
    assert summary.balance_cents == sum(balances.values())
    assert summary.owed_cents == sum(b for b in balances.values() if b > 0)
    assert summary.credit_cents == sum(b for b in balances.values() if b < 0)
    assert summary.delinquent_accounts == delinquent > 0


def test_every_change_has_its_outbox_row(engine: Engine, loaded: Any) -> None:
    tables = {
        "customer": (Customer.id, Customer.id),
        "transaction": (Transaction.id, Transaction.customer_id),
        "reading": (MeterReading.id, MeterReading.customer_id),
        "order": (Order.id, Order.customer_id),
    }
    with read_only(engine) as s:
        for entity, (id_col, customer_col) in tables.items():
            rows = {tuple(r) for r in s.execute(select(id_col, customer_col))}
            fed = [
                tuple(r)
                for r in s.execute(
                    select(OutboxEntry.entity_id, OutboxEntry.customer_id).where(
                        OutboxEntry.entity == entity
                    )
                )
            ]
            assert rows and len(fed) == len(rows) and set(fed) == rows, entity


def test_voids_point_at_payments_with_their_check_number(engine: Engine, loaded: Any) -> None:
    with read_only(engine) as s:
        voids = s.scalars(select(Transaction).where(Transaction.kind == "VOID")).all()
        assert voids
        for void in voids:
            paid = s.get(Transaction, void.voids_id)
            assert paid is not None and paid.kind == "PAY"
            assert void.amount_cents == -paid.amount_cents and void.reference == paid.reference


def _truth_holds(s: Any, group: TruthGroup) -> None:
    rows = [service.get_customer(s, a) for a in group.accounts]
    if group.kind == "successive_tenants":
        assert len({c.location for c in rows}) == 1
        assert all(c.status == "inactive" for c in rows[:-1]) and rows[-1].status == "active"
        assert [c.occupant for c in rows] == sorted(c.occupant for c in rows)
    elif group.kind == "father_son":
        assert rows[0].service_address == rows[1].service_address
        assert rows[0].last_name == rows[1].last_name and rows[1].suffix == "Jr"
    elif group.kind == "consolidated_billing":
        assert all(c.master_customer_id == rows[0].id for c in rows[1:])
    elif group.kind == "imported_twice":
        refs = [{r.ref_type: r.normalized for r in c.refs} for c in rows]
        assert refs[0]["ssr"] == refs[1]["ssr"]


def test_truth_accounts_exist_with_their_property(engine: Engine, loaded: Any) -> None:
    _, document = loaded
    groups = [TruthGroup(g["kind"], tuple(g["accounts"]), g["note"]) for g in document["groups"]]
    assert {g.kind for g in groups} >= {"successive_tenants", "father_son", "imported_twice"}
    with read_only(engine) as s:
        for group in groups:
            _truth_holds(s, group)


def test_the_town_passes_the_integrity_checks(engine: Engine, loaded: Any) -> None:
    """Planted duplicates are not integrity problems: no duplicate voids or readings, every
    consolidated-billing master active, no orphans."""
    with read_only(engine) as s:
        assert list(run_checks(s)) == []


def test_a_second_load_is_refused(engine: Engine, loaded: Any) -> None:
    with pytest.raises(Conflict, match="already holds 150 customers"):
        load_demo(engine, OPTIONS)


def test_ids_continue_after_the_load(engine: Engine, loaded: Any) -> None:
    """On PostgreSQL the sequences moved past the ids the loader assigned."""
    with transaction(engine) as s:
        community = service.get_community(s)
        added = service.add_customer(s, community, "999999-01", {"last_name": "After"}, actor="t")
        service.post_charge(s, added, "WA", Cents(1234), date(2026, 10, 15), actor="t")
        service.add_order(s, added, "SO-AFTER", date(2026, 10, 15), actor="t")
        service.add_reading(s, added, "W1", 10, date(2026, 10, 15), actor="t")
    assert _count(engine, Customer.id) == OPTIONS.customers + 1


def test_loads_into_a_ledger_whose_community_exists(engine: Engine) -> None:
    with transaction(engine) as s:
        service.create_community(s, "MAPLEFALLS", "Maple Falls", actor="t")
    summary, _ = load_demo(engine, OPTIONS)
    assert summary.customers == OPTIONS.customers


def _contents(url: str) -> tuple[list[Any], ...]:
    engine = make_engine(url)
    try:
        with read_only(engine) as s:
            return tuple(
                [tuple(row) for row in s.execute(select(*table.c).order_by(*table.primary_key))]
                for table in (Customer.__table__, Transaction.__table__, Order.__table__)
            )
    finally:
        engine.dispose()


def _load_copy(template: Path, path: Path, seed: int) -> tuple[str, dict[str, Any]]:
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        _, document = load_demo(engine, DemoOptions(seed=seed, customers=120))
    finally:
        engine.dispose()
    return f"sqlite:///{path}", document


def test_same_seed_same_rows_other_seed_other_rows(sqlite_template: Path, tmp_path: Path) -> None:
    """Customers, transactions and orders (timestamps included) are identical for one seed."""
    url_a, truth_a = _load_copy(sqlite_template, tmp_path / "a.db", 3)
    url_b, truth_b = _load_copy(sqlite_template, tmp_path / "b.db", 3)
    url_c, truth_c = _load_copy(sqlite_template, tmp_path / "c.db", 4)
    assert truth_a == truth_b != truth_c
    first = _contents(url_a)
    assert all(first) and first == _contents(url_b)
    assert first != _contents(url_c)
