"""Benchmark: the portal sync on a sample town (issue 4).

Targets: the first sync of 100,000 customers with 24 months of history within 3x the time to
bulk-load the same rows into the same store (both measured in one run); 10,000 changed
customers sync in under 5 s; an idempotent re-apply writes nothing.

1. The town is built once with ``civic demo`` (kept in ``--work`` between runs).
2. First sync: a fresh portal store, ``sync_once`` over the ledger feed (snapshot, pages of 500
   customers, each page one transaction with its cursor and search index).
3. Bulk load: another fresh store; the same records are read from the ledger and turned into
   rows *untimed*, then only the inserts (``executemany`` on SQLite, ``COPY`` on PostgreSQL,
   plus the search index) are timed, in the same pages.
4. Changed customers: a charge is posted to ``--changed`` customers (untimed, one ledger
   transaction), then the incremental sync is timed; ``--repeat`` times, the median kept.
5. Exactness: a seeded sample of 500 changed customers, each stored record compared field by
   field with the ledger's projection (``stored_record == project(...)``); 0 mismatches.
6. Re-apply: the same records applied again; nothing may be written.

The incremental sync is ``sync_once`` with its defaults: the delta path (docs/sync.md).

    .venv/bin/python bench/bench_sync.py --customers 100000 --changed 10000
    .venv/bin/python bench/bench_sync.py --customers 100000 --backend postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import Engine

from civic.db import make_engine, read_only, transaction
from civic.demo.model import DEFAULT_AS_OF
from civic.ledger import service
from civic.ledger.tables import Customer
from civic.portal.store import bulk, index, migrate
from civic.portal.store.apply import (
    CUSTOMERS,
    PERIODS,
    SERVICES,
    TRANSACTIONS,
    Rules,
    _customer_row,
    apply_records,
    search_document,
)
from civic.portal.store.normalize import fold
from civic.portal.store.read import stored_record
from civic.portal.store.records import CustomerRecord, content_hash
from civic.sync.feeds import LedgerFeed
from civic.sync.run import SNAPSHOT_PAGE, sync_once

CIVIC = str(Path(sys.executable).parent / "civic")
PG_ADMIN = os.environ.get("CIVIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TODAY = DEFAULT_AS_OF


def admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def ledger_url(backend: str, customers: int, work: Path) -> str:
    """The town, built on first use and kept."""
    if backend == "sqlite":
        path = work / f"ledger-{customers}.db"
        url = f"sqlite:///{path}"
        if path.exists():
            return url
    else:
        name = f"civic_bench_sync_ledger_{customers}"
        url = pg_url(name)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return url
        admin(f'CREATE DATABASE "{name}"')
    t0 = time.perf_counter()
    env = {**os.environ, "CIVIC_ACTOR": "bench"}
    subprocess.run(
        [CIVIC, "demo", "--customers", str(customers), "--db", url, "--json"],
        check=True,
        capture_output=True,
        env=env,
    )
    print(f"built the town in {time.perf_counter() - t0:.0f} s", flush=True)
    return url


def fresh_portal(backend: str, work: Path, label: str) -> str:
    if backend == "sqlite":
        path = work / f"portal-{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        name = f"civic_bench_sync_portal_{label}_{uuid.uuid4().hex[:6]}"
        admin(f'CREATE DATABASE "{name}"')
        url = pg_url(name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def drop_portal(backend: str, url: str) -> None:
    if backend == "postgresql":
        admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def rows_of(records: list[CustomerRecord]) -> dict[str, Any]:
    rules = Rules()
    customers, services, periods, txns, docs = [], [], [], [], []
    now = datetime.now(UTC)
    for r in records:
        row = _customer_row(r, rules, content_hash(r), 0, now)
        customers.append(row)
        for s in r.services:
            services.append((r.id, s.service, s.name, s.balance, s.unapplied_credit))
            periods.extend(
                (r.id, s.service, p.period_end, p.age, p.charged, p.outstanding) for p in s.periods
            )
        txns.extend(
            (
                t.id, r.id, t.service, t.period_end, t.kind, t.amount, t.txn_date,
                t.description, t.reference, t.voids_id,
            )
            for t in r.transactions
        )  # fmt: skip
        docs.append(
            index.IndexRow(
                r.id,
                search_document(
                    first_name=r.first_name,
                    middle_name=r.middle_name,
                    last_name=r.last_name,
                    suffix=r.suffix,
                    business_name=r.business_name,
                    service_address=r.service_address,
                    account_number=r.account_number,
                    phone=r.phone,
                ),
                r.community,
                bool(row["visible"]),
                fold(r.display_name),
                fold(r.service_address),
            )
        )
    return {"c": customers, "s": services, "p": periods, "t": txns, "i": docs}


def bulk_load(feed: LedgerFeed, portal: Engine) -> tuple[float, int]:
    """Seconds spent inserting the snapshot's rows (reading and shaping them not counted)."""
    spent = 0.0
    rows_total = 0
    mark: str | None = None
    while True:
        records, mark = feed.snapshot_page(mark, SNAPSHOT_PAGE)
        rows = rows_of(records)
        ccols = list(rows["c"][0]) if rows["c"] else []
        t0 = time.perf_counter()
        with transaction(portal) as s:
            bulk.insert_rows(s, CUSTOMERS, ccols, [[r[c] for c in ccols] for r in rows["c"]])
            bulk.insert_rows(s, SERVICES, list(SERVICES.c.keys()), rows["s"])
            bulk.insert_rows(s, PERIODS, list(PERIODS.c.keys()), rows["p"])
            bulk.insert_rows(s, TRANSACTIONS, list(TRANSACTIONS.c.keys()), rows["t"])
            index.put(s, rows["i"])
        spent += time.perf_counter() - t0
        rows_total += sum(len(v) for v in rows.values())
        if mark is None:
            return spent, rows_total


def change_customers(ledger: Engine, count: int) -> list[int]:
    with transaction(ledger) as s:
        ids = list(
            s.scalars(
                select(Customer.id)
                .where(Customer.status == "active", Customer.merged_into_id.is_(None))
                .order_by(Customer.id)
                .limit(count)
            )
        )
        for cid in ids:
            customer = s.get(Customer, cid)
            assert customer is not None
            service.post_charge(s, customer, "WA", 1234, date(2026, 10, 20), actor="bench")
    return ids


def bench(
    backend: str, customers: int, changed: int, work: Path, repeat: int = 3
) -> dict[str, Any]:
    ledger = make_engine(ledger_url(backend, customers, work))
    feed = LedgerFeed(ledger, today=TODAY)
    out: dict[str, Any] = {"backend": backend, "customers": customers}
    bulk_url = fresh_portal(backend, work, "bulk")
    sync_url = fresh_portal(backend, work, "sync")
    try:
        bulk_engine = make_engine(bulk_url)
        bulk_s, rows = bulk_load(feed, bulk_engine)
        bulk_engine.dispose()
        out["bulk_load_s"] = round(bulk_s, 1)
        out["rows"] = rows
        print(f"{backend}: bulk load of {rows} rows {bulk_s:.1f} s", flush=True)
        portal = make_engine(sync_url)
        t0 = time.perf_counter()
        first = sync_once(feed, portal)
        first_s = time.perf_counter() - t0
        out["first_sync_s"] = round(first_s, 1)
        out["first_sync_over_bulk"] = round(first_s / bulk_s, 2)
        print(f"{backend}: first sync {first_s:.1f} s ({first_s / bulk_s:.2f}x)", flush=True)
        assert first.applied.inserted == customers or first.applied.inserted > 0
        runs: list[float] = []
        for _ in range(repeat):
            ids = change_customers(ledger, changed)
            t0 = time.perf_counter()
            incr = sync_once(feed, portal)
            runs.append(time.perf_counter() - t0)
            print(
                f"{backend}: {len(ids)} changed customers {runs[-1]:.2f} s "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        out["changed_customers"] = len(ids)
        out["changed_sync_s"] = round(statistics.median(runs), 2)
        out["changed_sync_runs_s"] = [round(r, 2) for r in runs]
        out["changed_written"] = incr.applied.written
        sample = sorted(random.Random(7).sample(ids, min(500, len(ids))))
        expected = feed.records(sample)
        with read_only(portal) as s:
            out["sample_compared"] = len(sample)
            out["sample_mismatches"] = sum(
                1 for cid in sample if stored_record(s, cid) != expected.get(cid)
            )
        print(f"{backend}: {out['sample_mismatches']} of {len(sample)} differ", flush=True)
        records = list(feed.records(ids).values())
        t0 = time.perf_counter()
        with transaction(portal) as s:
            again = apply_records(s, records, seq=incr.cursor)
        out["reapply_s"] = round(time.perf_counter() - t0, 2)
        out["reapply_written"] = again.written
        out["reapply_unchanged"] = again.unchanged
        portal.dispose()
    finally:
        ledger.dispose()
        drop_portal(backend, bulk_url)
        drop_portal(backend, sync_url)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out["targets"] = {
        "first_sync_over_bulk": 3.0,
        "changed_sync_s": 5.0,
        "reapply_written": 0,
        "sample_mismatches": 0,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/civic_bench_sync"))
    parser.add_argument("--repeat", type=int, default=3, help="changed-customer runs (median)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = [
        bench(b, args.customers, args.changed, args.work, args.repeat)
        for b in args.backend or ["sqlite"]
    ]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
