"""Benchmark: staff search over a synced portal store (issue 4).

Targets, over 1,000,000 synced customers: the intended record in the top 10 for at least 99% of
a labelled query set; p95 latency under 15 ms on SQLite and under 40 ms on PostgreSQL.

The store is filled once per size and backend (kept in ``--work``) through the sync's own
``apply_records`` — the same rows, search index and typo dictionary a sync writes — from the
sample town's customers (``civic.demo``: realistic names, addresses, phones, planted
look-alikes), without transaction history (search does not read it). The labelled queries are
generated from a seeded sample of those customers, a fixed share of each kind: exact names,
partial names, one- and two-edit typos, punctuation and word-order variants, account numbers in
every spelling, service address fragments, phone numbers. A query counts as a hit when the
customer it was made from is among the first ten results.

    .venv/bin/python bench/bench_search.py --customers 1000000 --backend sqlite
    .venv/bin/python bench/bench_search.py --customers 1000000 --backend postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from civic.db import make_engine, read_only, transaction
from civic.demo.generate import plan
from civic.demo.model import DemoCustomer, DemoOptions
from civic.portal.store import migrate
from civic.portal.store.apply import apply_records
from civic.portal.store.records import CustomerRecord, PeriodRecord, ServiceRecord
from civic.portal.store.search import DICTIONARY, search

PG_ADMIN = os.environ.get("CIVIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
KINDS = (
    "exact_name",
    "partial_name",
    "typo_1",
    "typo_2",
    "punctuation_order",
    "account",
    "address",
    "phone",
)


def record_of(i: int, c: DemoCustomer) -> CustomerRecord:
    service = ServiceRecord(
        "WA", "Water", 1500, 0, (PeriodRecord(date(2026, 10, 31), 0, 1500, 1500),)
    )
    return CustomerRecord(
        id=i,
        community="MAPLEFALLS",
        account_number=c.number,
        first_name=c.first_name,
        middle_name=c.middle_name,
        last_name=c.last_name,
        suffix=c.suffix,
        business_name=c.business_name,
        service_address=c.service_address,
        mailing_address=c.mailing_address,
        city=c.city,
        state=c.state,
        zip=c.zip,
        phone=c.phone,
        email=c.email,
        status="active",
        online_access=True,
        master_account=None,
        merged_into_account=None,
        alerts=(),
        version=1,
        services=(service,),
        transactions=(),
    )


def store_url(backend: str, customers: int, work: Path) -> tuple[str, bool]:
    """The store's URL and whether it still has to be filled."""
    if backend == "sqlite":
        path = work / f"portal-{customers}.db"
        return f"sqlite:///{path}", not path.exists()
    name = f"civic_bench_search_{customers}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, not exists


def customers_of(n: int) -> list[CustomerRecord]:
    out: list[CustomerRecord] = []
    for block in plan(DemoOptions(customers=n)):
        for c in block.customers:
            out.append(record_of(len(out) + 1, c))
    return out


def fill(url: str, records: list[CustomerRecord]) -> float:
    engine = make_engine(url)
    migrate.upgrade(engine)
    t0 = time.perf_counter()
    for i in range(0, len(records), 5000):
        with transaction(engine) as s:
            apply_records(s, records[i : i + 5000], seq=1)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    engine.dispose()
    return time.perf_counter() - t0


def _edit(word: str, rnd: random.Random) -> str:
    i = rnd.randrange(1, len(word) - 1)
    op = rnd.choice(("swap", "sub", "drop", "add"))
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    letter = rnd.choice("abcdefghijklmnopqrstuvwxyz")
    if op == "sub":
        return word[:i] + letter + word[i + 1 :]
    if op == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + letter + word[i:]


def queries_for(r: CustomerRecord, kind: str, rnd: random.Random) -> str | None:
    first = r.first_name or ""
    last = r.last_name or ""
    person = bool(last) and not r.business_name
    if kind == "exact_name":
        return r.display_name
    if kind == "partial_name":
        if person and first and len(last) >= 5:
            return f"{first} {last[: max(3, len(last) - 2)]}"
        return r.display_name.split()[0] if r.business_name else None
    if kind == "typo_1":
        if person and len(last) >= 5:
            return f"{first} {_edit(last, rnd)}"
        return None
    if kind == "typo_2":
        if person and len(last) >= 6:
            if len(first) >= 4 and rnd.random() < 0.5:
                return f"{_edit(first, rnd)} {_edit(last, rnd)}"
            return f"{first} {_edit(_edit(last, rnd), rnd)}"
        return None
    if kind == "punctuation_order":
        if not person:
            return r.display_name.replace("'", "").replace("&", "and").replace(".", "")
        plain = last.replace("'", "").replace("-", " ") if rnd.random() < 0.5 else last
        return f"{plain} {first}" if rnd.random() < 0.5 else f"{plain}, {first}"
    if kind == "account":
        location, occupant = r.account_number.split("-")
        return rnd.choice(
            (
                r.account_number,
                location + occupant,
                f"{int(location)}-{int(occupant)}",
                str(int(location)),
            )
        )
    if kind == "address":
        words = (r.service_address or "").split()
        if len(words) < 2:
            return None
        return " ".join(words[:2])
    if kind == "phone":
        if not r.phone:
            return None
        digits = "".join(ch for ch in r.phone if ch.isdigit())
        return rnd.choice((r.phone, digits, f"{digits[-7:-4]}-{digits[-4:]}"))
    raise ValueError(kind)


NAME_KINDS = ("exact_name", "partial_name", "typo_1", "typo_2", "punctuation_order")


def _key(text: str) -> str:
    return " ".join(text.lower().replace("'", "").split())


def _name_key(r: CustomerRecord) -> str:
    """First and last name (or the business name): what a name query spells."""
    if r.business_name:
        return _key(r.business_name)
    return _key(f"{r.first_name or ''} {r.last_name or ''}")


def labelled(records: list[CustomerRecord], count: int, seed: int) -> list[tuple[str, str, int]]:
    """``count`` (kind, query, customer id), the same share of each kind. A name query is only
    made for a customer whose first and last name at most nine others share (a partial name
    only when at most nine others share that first name and last-name prefix): otherwise no
    search can put the one meant in the top ten, and a clerk would add the address or the
    account number."""
    import bisect

    names: dict[str, int] = defaultdict(int)
    for r in records:
        names[_name_key(r)] += 1
    ordered = sorted(_key(r.display_name) for r in records)
    rnd = random.Random(seed)
    out: list[tuple[str, str, int]] = []
    per_kind = count // len(KINDS)
    for kind in KINDS:
        made = 0
        while made < per_kind:
            r = rnd.choice(records)
            if kind in NAME_KINDS and names[_name_key(r)] >= 10:
                continue
            q = queries_for(r, kind, rnd)
            if q and kind == "partial_name":
                prefix = _key(q)
                start = bisect.bisect_left(ordered, prefix)
                same = bisect.bisect_left(ordered, prefix + "\uffff") - start
                if same >= 10:
                    continue
            if q:
                out.append((kind, q, r.id))
                made += 1
    return out


def run(backend: str, customers: int, count: int, seed: int, work: Path) -> dict[str, Any]:
    records = customers_of(customers)
    url, empty = store_url(backend, customers, work)
    fill_s = fill(url, records) if empty else None
    queries = labelled(records, count, seed)
    engine = make_engine(url)
    hits: dict[str, list[bool]] = defaultdict(list)
    times: list[float] = []
    misses: list[dict[str, Any]] = []
    with read_only(engine) as s:
        DICTIONARY.forget()
        search(s, "warm up the dictionary")
        for kind, q, want in queries:
            t0 = time.perf_counter()
            found = search(s, q, communities=["MAPLEFALLS"], limit=10)
            times.append((time.perf_counter() - t0) * 1000)
            ok = any(h.customer_id == want for h in found)
            hits[kind].append(ok)
            if not ok and len(misses) < 25:
                misses.append({"kind": kind, "query": q, "wanted": want})
    engine.dispose()
    times.sort()
    total = sum(sum(v) for v in hits.values())
    return {
        "backend": backend,
        "customers": customers,
        "queries": len(queries),
        "fill_s": round(fill_s, 1) if fill_s is not None else "reused",
        "top10_hit_rate": round(100 * total / len(queries), 2),
        "by_kind": {k: round(100 * sum(v) / len(v), 1) for k, v in hits.items()},
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
        "max_ms": round(times[-1], 2),
        "some_misses": misses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/civic_bench_search"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    out = [
        run(b, args.customers, args.queries, args.seed, args.work)
        for b in args.backend or ["sqlite"]
    ]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
