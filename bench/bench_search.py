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

The labelled queries are kept in ``--work`` too (planning a town of a million takes minutes).
``--impl label=other_search.py`` (repeatable; ``--impl now`` is this tree's search) measures
several implementations in one run, query by query, alternating which goes first, so they see
the same load; ``--dump FILE`` writes every query's result (kind, query, wanted id, its place,
milliseconds) as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
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
        # VACUUM too: the word table's reads are index-only once the visibility map is set
        # (autovacuum's work on a live store).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
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


def queries_of(
    customers: int, count: int, seed: int, work: Path, records: list[CustomerRecord] | None = None
) -> list[tuple[str, str, int]]:
    """The labelled queries, kept in ``work`` beside the stores (generating them plans the whole
    town again: minutes at a million)."""
    path = work / f"queries-{customers}-{count}-{seed}.json"
    if path.exists():
        return [(k, q, int(i)) for k, q, i in json.loads(path.read_text())]
    out = labelled(records or customers_of(customers), count, seed)
    path.write_text(json.dumps(out))
    return out


def load_impl(spec: str) -> tuple[str, Any]:
    """``label=path/to/file.py`` (a ``search`` function in that file) or ``label`` alone (this
    tree's search): another implementation measured in the same run, query by query."""
    label, _, path = spec.partition("=")
    if not path:
        return label, search
    import importlib.util

    module_spec = importlib.util.spec_from_file_location(f"bench_impl_{label}", path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    module.DICTIONARY.forget()
    return label, module.search


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[int(0.95 * (len(ordered) - 1))], 2)


def run(
    backend: str,
    customers: int,
    count: int,
    seed: int,
    work: Path,
    impls: list[str],
    dump: Path | None,
) -> list[dict[str, Any]]:
    url, empty = store_url(backend, customers, work)
    records = customers_of(customers) if empty else None
    fill_s = fill(url, records) if records is not None else None
    queries = queries_of(customers, count, seed, work, records)
    engine = make_engine(url)
    migrate.upgrade(engine)  # a store kept from an older schema gains the new index
    variants = [load_impl(spec) for spec in impls or ["now"]]
    hits: dict[str, dict[str, list[bool]]] = {label: defaultdict(list) for label, _ in variants}
    times: dict[str, dict[str, list[float]]] = {label: defaultdict(list) for label, _ in variants}
    rows: list[dict[str, Any]] = []
    with read_only(engine) as s:
        DICTIONARY.forget()
        for _label, fn in variants:
            fn(s, "warm up the dictionary")
        for n, (kind, q, want) in enumerate(queries):
            # Alternate which variant goes first, so neither is always the one with a cold cache.
            order = variants if n % 2 == 0 else variants[::-1]
            for label, fn in order:
                t0 = time.perf_counter()
                found = fn(s, q, communities=["MAPLEFALLS"], limit=10)
                ms = (time.perf_counter() - t0) * 1000
                place = next((i for i, h in enumerate(found) if h.customer_id == want), None)
                hits[label][kind].append(place is not None)
                times[label][kind].append(ms)
                rows.append(
                    {
                        "impl": label,
                        "kind": kind,
                        "query": q,
                        "wanted": want,
                        "place": place,
                        "ms": round(ms, 2),
                        "top": [h.customer_id for h in found[:3]],
                    }
                )
    engine.dispose()
    if dump is not None:
        dump.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = []
    for label, _fn in variants:
        every = [t for v in times[label].values() for t in v]
        total = sum(sum(v) for v in hits[label].values())
        out.append(
            {
                "backend": backend,
                "customers": customers,
                "impl": label,
                "queries": len(queries),
                "fill_s": round(fill_s, 1) if fill_s is not None else "reused",
                "top10_hit_rate": round(100 * total / len(queries), 2),
                "by_kind": {k: round(100 * sum(v) / len(v), 1) for k, v in hits[label].items()},
                "p50_ms": round(statistics.median(every), 2),
                "p95_ms": _p95(every),
                "max_ms": round(max(every), 2),
                "p95_ms_by_kind": {k: _p95(v) for k, v in times[label].items()},
                "some_misses": [
                    {k: r[k] for k in ("kind", "query", "wanted")}
                    for r in rows
                    if r["impl"] == label and r["place"] is None
                ][:25],
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/civic_bench_search"))
    parser.add_argument(
        "--impl",
        action="append",
        default=[],
        help="label[=file.py]: measure this search too, query by query in the same run",
    )
    parser.add_argument("--dump", type=Path, help="write every query's result here (JSON lines)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    out = [
        result
        for b in args.backend or ["sqlite"]
        for result in run(
            b, args.customers, args.queries, args.seed, args.work, args.impl, args.dump
        )
    ]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
