"""Write the sample town into a ledger, fast: customers in batches (1,000 by default), each
batch one transaction holding its customers, external references, alerts, transactions, meter
readings, orders, an outbox row for every customer, transaction, reading and order, and one
audit entry (``demo.load``). Rows go in with the driver's ``executemany`` (see ``bulk``).

Ids are assigned here, counting on from the largest id in each table, so that a void can point
at its payment and an outbox row at its entity without reading anything back; on PostgreSQL
the id sequences are moved past them in the same transaction. Only a ledger without customers
is loaded: the demo never mixes with real data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from civic.db import lock_outbox, transaction
from civic.demo.bulk import TABLES, BulkSql
from civic.demo.generate import customer_history, plan
from civic.demo.model import (
    COMMUNITY_NAME,
    POSTED_BY,
    SERVICES,
    Calendar,
    DemoCustomer,
    DemoOptions,
    History,
)
from civic.demo.summary import DemoSummary, Tally
from civic.demo.truth import TruthGroup, truth_document
from civic.errors import Conflict
from civic.ledger import outbox
from civic.ledger.customers import (
    add_service,
    audit,
    create_community,
    normalize_ref,
    services_by_code,
)
from civic.ledger.periods import ensure_period
from civic.ledger.tables import Community, Customer

BATCH_CUSTOMERS = 1_000
ACTOR = "civic demo"
ID_TABLES = ("customers", "transactions", "meter_readings", "orders")
Progress = Callable[[int, int], None]
Row = tuple[Any, ...]


@dataclass
class _Ledger:
    """What every batch needs to know about the ledger it writes into."""

    community_id: int
    services: dict[str, int]
    periods: dict[date, int]
    next_ids: dict[str, int]
    sql: BulkSql
    account_ids: dict[str, int] = field(default_factory=dict)

    def take(self, table: str) -> int:
        value = self.next_ids[table]
        self.next_ids[table] = value + 1
        return value


@dataclass
class _Batch:
    """The rows of one batch, tuples in ``bulk.COLUMNS`` order."""

    rows: dict[str, list[Row]] = field(
        default_factory=lambda: {
            name: []
            for name in (
                "customers",
                "customer_refs",
                "alert_messages",
                "transactions",
                "meter_readings",
                "orders",
            )
        }
    )
    changes: list[tuple[int, int, str, int, str]] = field(default_factory=list)
    label: tuple[int, int, str, str] = (0, 0, "", "")
    size: int = 0
    next_ids: dict[str, int] = field(default_factory=dict)


def customer_count(engine: Engine) -> int:
    """Customers already in the ledger (the demo loads only into a ledger with none)."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Customer)) or 0)


def load_demo(
    engine: Engine,
    options: DemoOptions,
    *,
    actor: str = ACTOR,
    batch_size: int = BATCH_CUSTOMERS,
    progress: Progress | None = None,
) -> tuple[DemoSummary, dict[str, Any]]:
    """Build the sample town in the (migrated, customer-free) ledger behind ``engine``.

    Returns the summary of what was built and the truth document (see ``truth``). Each batch
    commits on its own; a failure part-way leaves the batches before it.
    """
    started = time.perf_counter()
    cal = Calendar.for_as_of(options.as_of)
    with transaction(engine) as session:
        ledger = _prepare(session, options, cal, actor)
    tally = Tally(cal)
    truth: list[TruthGroup] = []
    done = 0
    for batch in _batches(options, ledger, tally, truth, batch_size):
        with transaction(engine) as session:
            _write(session, batch, ledger)
            _audit(session, actor, batch)
        done += batch.size
        if progress is not None:
            progress(done, options.customers)
    document = truth_document(options, truth)
    summary = tally.summary(
        options,
        database=engine.url.render_as_string(hide_password=True),
        truth=document["counts"],
        seconds=time.perf_counter() - started,
    )
    return summary, document


def _prepare(session: Session, options: DemoOptions, cal: Calendar, actor: str) -> _Ledger:
    """Refuse a ledger with customers; create (or reuse) the community, its services and
    billing periods; find where the ids continue."""
    held = session.scalar(select(func.count()).select_from(Customer)) or 0
    if held:
        raise Conflict(
            f"the ledger already holds {held:,} customers: the demo town is built only in an "
            "empty ledger",
            customers=held,
        )
    code = options.community.strip().upper()
    community = session.scalar(select(Community).where(Community.code == code))
    if community is None:
        community = create_community(session, code, COMMUNITY_NAME, actor=actor)
    elif community.period_months != 1:
        raise Conflict(
            f"community {code} bills every {community.period_months} months: the demo needs "
            "monthly billing periods"
        )
    known = services_by_code(session, community)
    for svc, name in zip(SERVICES, ("Water", "Sewer", "Garbage"), strict=True):
        if svc not in known:
            known[svc] = add_service(session, community, svc, name)
    periods = {end: ensure_period(session, community, end).id for end in cal.all_period_ends}
    next_ids = {
        name: int(session.scalar(select(func.coalesce(func.max(TABLES[name].c.id), 0))) or 0) + 1
        for name in ID_TABLES
    }
    return _Ledger(
        community_id=community.id,
        services={svc: known[svc].id for svc in SERVICES},
        periods=periods,
        next_ids=next_ids,
        sql=BulkSql(session.get_bind().dialect),
    )


def _batches(
    options: DemoOptions,
    ledger: _Ledger,
    tally: Tally,
    truth: list[TruthGroup],
    size: int,
) -> Iterator[_Batch]:
    """The town's rows, batch by batch (ids assigned in order); fills ``tally`` and
    ``truth`` on the way."""
    for block in plan(options):
        ledger.account_ids.clear()
        tally.note_block(block.customers, block.truth)
        for number, start in enumerate(range(0, len(block.customers), size)):
            chunk = block.customers[start : start + size]
            batch = _Batch(label=(block.index, number, chunk[0].number, chunk[-1].number))
            yield _rows(batch, chunk, options, ledger, tally)
        truth.extend(block.truth)


def _rows(
    batch: _Batch,
    chunk: Sequence[DemoCustomer],
    options: DemoOptions,
    ledger: _Ledger,
    tally: Tally,
) -> _Batch:
    sql = ledger.sql
    for c in chunk:
        cid = ledger.take("customers")
        ledger.account_ids[c.number] = cid
        batch.rows["customers"].append(_customer_row(c, cid, ledger))
        batch.changes.append((ledger.community_id, cid, "customer", cid, "add"))
        batch.rows["customer_refs"].extend(
            (cid, kind, value, normalize_ref(value)) for kind, value in c.refs
        )
        stamp = sql.stamp(options.as_of, 9)
        batch.rows["alert_messages"].extend((cid, text, stamp, POSTED_BY) for text in c.alerts)
        story = customer_history(c, options)
        _history_rows(batch, story, cid, ledger)
        tally.add(c, story)
    batch.size = len(chunk)
    batch.next_ids = dict(ledger.next_ids)
    return batch


def _customer_row(c: DemoCustomer, cid: int, ledger: _Ledger) -> Row:
    sql = ledger.sql
    created = sql.stamp(c.created_date, 9)
    master = ledger.account_ids[c.master] if c.master else None
    return (
        cid,
        ledger.community_id,
        c.number,
        c.number[:6],
        c.number[7:],
        c.first_name,
        c.middle_name,
        c.last_name,
        c.suffix,
        c.business_name,
        c.service_address,
        c.mailing_address,
        c.city,
        c.state,
        c.zip,
        c.phone,
        c.email,
        c.status,
        sql.flag(c.online_access),
        c.collection_code,
        master,
        sql.day(c.created_date),
        created,
        created,
        1,
    )


def _history_rows(batch: _Batch, story: History, cid: int, ledger: _Ledger) -> None:
    sql, community, rows, changes = ledger.sql, ledger.community_id, batch.rows, batch.changes
    first_txn = ledger.next_ids["transactions"]
    for t in story.transactions:
        tid = ledger.take("transactions")
        voids = None if t.voids is None else first_txn + t.voids
        rows["transactions"].append(
            (
                tid,
                cid,
                ledger.services[t.service],
                ledger.periods[t.period_end],
                t.kind,
                t.amount,
                sql.day(t.txn_date),
                t.description,
                t.reference,
                voids,
                POSTED_BY,
                sql.stamp(t.txn_date),
            )
        )
        changes.append((community, cid, "transaction", tid, "post"))
    for r in story.readings:
        rid = ledger.take("meter_readings")
        rows["meter_readings"].append(
            (
                rid,
                cid,
                r.meter,
                ledger.periods[r.period_end],
                r.reading,
                sql.day(r.read_date),
                POSTED_BY,
                sql.stamp(r.read_date),
            )
        )
        changes.append((community, cid, "reading", rid, "add"))
    for o in story.orders:
        oid = ledger.take("orders")
        updated = o.end_date if o.end_date and o.status == "closed" else o.start_date
        rows["orders"].append(
            (
                oid,
                community,
                cid,
                o.number,
                o.kind,
                o.status,
                sql.day(o.start_date),
                sql.day(o.end_date),
                o.description,
                sql.stamp(o.start_date),
                sql.stamp(updated),
            )
        )
        changes.append((community, cid, "order", oid, "add"))


def _write(session: Session, batch: _Batch, ledger: _Ledger) -> None:
    """All rows of one batch and their outbox rows, in the caller's transaction."""
    sql = ledger.sql
    for table, rows in batch.rows.items():
        sql.insert(session, table, rows)
    _record_changes(session, sql, batch.changes)
    sql.move_sequences(session, batch.next_ids)


def _record_changes(
    session: Session, sql: BulkSql, changes: list[tuple[int, int, str, int, str]]
) -> None:
    """The outbox rows ``outbox.record_many`` would write (same columns, same lock taken
    first), through the driver's ``executemany``: ``record_many`` inserts through the ORM's
    bulk path, which costs several times more per row than the rest of the load."""
    unknown = {entity for _, _, entity, _, _ in changes} - set(outbox.ENTITIES)
    if unknown:
        raise ValueError(f"unknown outbox entities {sorted(unknown)}")
    lock_outbox(session)
    at = sql.now()
    sql.insert(session, "outbox", [(at, *change) for change in changes])


def _audit(session: Session, actor: str, batch: _Batch) -> None:
    block, number, first, last = batch.label
    audit(
        session,
        actor,
        "demo.load",
        "demo",
        None,
        None,
        {
            "block": block,
            "batch": number,
            "accounts": [first, last],
            **{table: len(rows) for table, rows in batch.rows.items()},
            "outbox": len(batch.changes),
        },
    )
