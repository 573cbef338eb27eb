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

Two labelled sets are measured in every run, each query once: ``original`` (the generator's,
unchanged) and ``fair``, the same with every name query that ten or more other customers
answer as well replaced by another of its kind (``Namesakes``, ``fair``); results per set.
The labelled queries are kept in ``--work`` too (planning a town of a million takes minutes).
``--impl label=other_search.py`` (repeatable; ``--impl now`` is this tree's search) measures
several implementations in one run, query by query, alternating which goes first, so they see
the same load; ``--dump FILE`` writes every query's result (kind, query, wanted id, its place,
milliseconds) as JSON lines.

Latency on a shared machine: each query's wall time is what a user waits, and it grows with
the machine's load; its CPU time (``time.thread_time`` of the searching thread, which on SQLite
includes the database's own work, in-process) is what it costs, and what it would take on an
idle core. Both are reported (``p95_ms``, ``cpu_p95_ms``); ``--repeat N`` measures the set N
times, round after round, and keeps each query's median of both.
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
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from civic.db import make_engine, read_only, transaction
from civic.demo.generate import plan
from civic.demo.model import DemoCustomer, DemoOptions
from civic.portal.store import migrate
from civic.portal.store.apply import apply_records
from civic.portal.store.normalize import fold
from civic.portal.store.records import CustomerRecord, PeriodRecord, ServiceRecord
from civic.portal.store.search import search

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


def _original_filter(records: list[CustomerRecord]) -> Any:
    """The generator's first filter: (kind, customer, query) -> whether it may be asked."""
    import bisect

    names: dict[str, int] = defaultdict(int)
    for r in records:
        names[_name_key(r)] += 1
    ordered = sorted(_key(r.display_name) for r in records)

    def ok(kind: str, r: CustomerRecord, q: str | None) -> bool:
        if kind in NAME_KINDS and names[_name_key(r)] >= 10:
            return False
        if q and kind == "partial_name":
            prefix = _key(q)
            start = bisect.bisect_left(ordered, prefix)
            if bisect.bisect_left(ordered, prefix + "\uffff") - start >= 10:
                return False
        return True

    return ok


def labelled(records: list[CustomerRecord], count: int, seed: int) -> list[tuple[str, str, int]]:
    """``count`` (kind, query, customer id), the same share of each kind. A name query is only
    made for a customer whose first and last name at most nine others share (a partial name
    only when at most nine others' display names start that way): otherwise no search can put
    the one meant in the top ten, and a clerk would add the address or the account number.
    This counts namesakes too narrowly (a middle name, a longer last name a prefix begins, a
    typo that spells another name): ``fair`` corrects the set it makes."""
    ok = _original_filter(records)
    rnd = random.Random(seed)
    out: list[tuple[str, str, int]] = []
    per_kind = count // len(KINDS)
    for kind in KINDS:
        made = 0
        while made < per_kind:
            r = rnd.choice(records)
            if not ok(kind, r, None):
                continue
            q = queries_for(r, kind, rnd)
            if q and not ok(kind, r, q):
                continue
            if q:
                out.append((kind, q, r.id))
                made += 1
    return out


def _joined(words: list[str]) -> set[str]:
    """A name's words, and each two neighbours joined (a double name: ``smith jones`` is also
    ``smithjones``), initials not joined."""
    out = set(words)
    for a, b in zip(words, words[1:], strict=False):
        if min(len(a), len(b)) >= 2:
            out.add(a + b)
    return out


class Namesakes:
    """Counts the customers other than the one meant that a name query describes as well:

    - exact names and word-order variants: every word of the query is a whole word of their
      name (first, middle, last, suffix or business name; a double name joined counts too);
    - partial names: the same, the last word of the query beginning another word of their name
      (``Alexander Alexand`` is not every Alexander);
    - typos (first word against the first or middle name, the rest against the last name,
      both folded and without spaces or hyphens): as few or fewer edits (Damerau-Levenshtein)
      as from the query to the one meant: a name the query spells exactly, a nearer one, or an
      equally near one.
    """

    def __init__(self, records: list[CustomerRecord]) -> None:
        import bisect

        self._bisect = bisect
        counts: dict[tuple[str, ...], int] = defaultdict(int)
        for r in records:
            counts[tuple(fold(r.display_name).split())] += 1
        self.names = list(counts.items())
        self.posting: dict[str, list[int]] = defaultdict(list)
        for i, (words, _n) in enumerate(self.names):
            for w in _joined(list(words)):
                self.posting[w].append(i)
        self.vocabulary = sorted(self.posting)
        self.people: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
        for r in records:
            if r.last_name and not r.business_name:
                key = (_flat(r.first_name), _flat(r.middle_name))
                self.people[_flat(r.last_name)][key] += 1
        self.lasts = list(self.people)

    def by_words(self, query: str, partial: bool) -> int:
        """Customers whose name holds every word of ``query`` (the last as a prefix when
        ``partial``), the one meant included."""
        words = fold(query).split()
        whole, prefix = (words[:-1], words[-1]) if partial else (words, None)
        if whole:
            rarest = min(whole, key=lambda w: len(self.posting.get(w, ())))
            ids = self.posting.get(rarest, [])
        else:
            ids = range(len(self.names))  # type: ignore[assignment]
        total = 0
        for i in ids:
            words_i, n = self.names[i]
            if _holds(words_i, whole, prefix):
                total += n
        return total

    def by_edits(self, query: str, meant: CustomerRecord) -> int:
        """Customers as near to ``query`` as the one meant (it included)."""
        first, _, rest = query.partition(" ")
        qf, ql = _flat(first), _flat(rest)

        def far(f: str, m: str, last: str) -> int:
            d_first = DamerauLevenshtein.distance(qf, f)
            if m:
                d_first = min(d_first, DamerauLevenshtein.distance(qf, m))
            return d_first + DamerauLevenshtein.distance(ql, last)

        d0 = far(_flat(meant.first_name), _flat(meant.middle_name), _flat(meant.last_name))
        total = 0
        for last, dl, _i in process.extract(
            ql, self.lasts, scorer=DamerauLevenshtein.distance, score_cutoff=d0, limit=None
        ):
            budget = d0 - int(dl)
            for (f, m), n in self.people[last].items():
                d = DamerauLevenshtein.distance(qf, f, score_cutoff=budget)
                if d > budget and m:
                    d = DamerauLevenshtein.distance(qf, m, score_cutoff=budget)
                if d <= budget:
                    total += n
        return total

    def others(self, kind: str, query: str, meant: CustomerRecord) -> int:
        if kind in ("typo_1", "typo_2") and meant.last_name and not meant.business_name:
            return self.by_edits(query, meant) - 1
        return self.by_words(query, partial=kind == "partial_name") - 1


def _holds(name: tuple[str, ...], whole: list[str], prefix: str | None) -> bool:
    """Whether a name's words (or two neighbours joined) are ``whole`` and, when given, another
    begins with ``prefix``, each name word answering one query word."""
    spans = [(w, {i}) for i, w in enumerate(name)]
    spans += [
        (a + b, {i, i + 1})
        for i, (a, b) in enumerate(zip(name, name[1:], strict=False))
        if min(len(a), len(b)) >= 2
    ]
    used: set[int] = set()
    for q in whole:
        span = next((at for w, at in spans if w == q and not at & used), None)
        if span is None:
            return False
        used |= span
    return prefix is None or any(w.startswith(prefix) and not at & used for w, at in spans)


def _flat(text: str | None) -> str:
    return fold(text).replace(" ", "")


def fair(
    records: list[CustomerRecord], queries: list[tuple[str, str, int]], seed: int
) -> tuple[list[tuple[str, str, int]], list[dict[str, Any]]]:
    """The labelled set with every name query that ten or more other customers answer as well
    (``Namesakes``) replaced by another of the same kind, drawn from a second generator of the
    same seed and passing both the original filter and this one; the others unchanged, in
    place. Returns the set and what was replaced."""
    namesakes = Namesakes(records)
    by_id = {r.id: r for r in records}
    rnd = random.Random(f"{seed}:replacements")
    original = _original_filter(records)
    out: list[tuple[str, str, int]] = []
    replaced: list[dict[str, Any]] = []
    taken = {(k, q, i) for k, q, i in queries}
    for kind, q, want in queries:
        if kind not in NAME_KINDS:
            out.append((kind, q, want))
            continue
        others = namesakes.others(kind, q, by_id[want])
        if others < 10:
            out.append((kind, q, want))
            continue
        while True:
            r = rnd.choice(records)
            new = queries_for(r, kind, rnd)
            if not new or not original(kind, r, new) or (kind, new, r.id) in taken:
                continue
            if namesakes.others(kind, new, r) < 10:
                break
        taken.add((kind, new, r.id))
        out.append((kind, new, r.id))
        replaced.append({"kind": kind, "query": q, "others": others, "by": new})
    return out, replaced


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


def fair_queries_of(
    url: str, customers: int, count: int, seed: int, work: Path, queries: list[tuple[str, str, int]]
) -> list[tuple[str, str, int]]:
    """The corrected set (``fair``), kept in ``work`` with what it replaced."""
    path = work / f"queries-{customers}-{count}-{seed}-fair.json"
    if path.exists():
        return [(k, q, int(i)) for k, q, i in json.loads(path.read_text())["queries"]]
    records = records_of_store(url)
    # The store holds the town the queries were made from: the same set comes out of it.
    if labelled(records, count, seed) != queries:
        raise SystemExit("the store's customers do not give the kept queries")
    out, replaced = fair(records, queries, seed)
    path.write_text(json.dumps({"queries": out, "replaced": replaced}, indent=0))
    return out


def records_of_store(url: str) -> list[CustomerRecord]:
    """The customers a store was filled with (what the queries are made from), read back."""
    from types import SimpleNamespace

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, account_number, first_name, middle_name, last_name, suffix, "
            "business_name, service_address, phone FROM portal_customers ORDER BY id"
        ).all()
    engine.dispose()
    out = []
    for row in rows:
        c = SimpleNamespace(
            number=row[1], first_name=row[2], middle_name=row[3], last_name=row[4],
            suffix=row[5], business_name=row[6], service_address=row[7], phone=row[8],
            mailing_address=None, city=None, state=None, zip=None, email=None,
        )  # fmt: skip
        out.append(record_of(int(row[0]), c))  # type: ignore[arg-type]
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
    repeat: int = 1,
) -> list[dict[str, Any]]:
    url, empty = store_url(backend, customers, work)
    records = customers_of(customers) if empty else None
    fill_s = fill(url, records) if records is not None else None
    original = queries_of(customers, count, seed, work, records)
    sets = {
        "original": original,
        "fair": fair_queries_of(url, customers, count, seed, work, original),
    }
    # Every query of either set measured once per implementation (most are in both).
    queries = list(dict.fromkeys(q for qs in sets.values() for q in qs))
    members = {name: set(qs) for name, qs in sets.items()}
    engine = make_engine(url)
    migrate.upgrade(engine)  # a store kept from an older schema gains the new index
    variants = [load_impl(spec) for spec in impls or ["now"]]
    measured: dict[tuple[str, tuple[str, str, int]], tuple[bool, float, float]] = {}
    rows: list[dict[str, Any]] = []
    walls: dict[tuple[str, tuple[str, str, int]], list[float]] = defaultdict(list)
    cpus: dict[tuple[str, tuple[str, str, int]], list[float]] = defaultdict(list)
    with read_only(engine) as s:
        # ``repeat`` rounds over the whole set (not one query several times in a row, which
        # would measure warm caches); each query keeps its median wall and CPU time.
        for round_ in range(repeat):
            # Each round starts from a fresh typo dictionary, so what a search remembers of
            # the words it has met (its corrections) helps within a round, as in real use,
            # and not from having seen the same query in the round before.
            for _label, fn in variants:
                sys.modules[fn.__module__].DICTIONARY.forget()
                fn(s, "warm up the dictionary")
            for n, query in enumerate(queries):
                kind, q, want = query
                # Alternate which variant goes first, so neither always has the cold cache.
                order = variants if (n + round_) % 2 == 0 else variants[::-1]
                for label, fn in order:
                    c0 = time.thread_time()
                    t0 = time.perf_counter()
                    found = fn(s, q, communities=["MAPLEFALLS"], limit=10)
                    ms = (time.perf_counter() - t0) * 1000
                    cpu = (time.thread_time() - c0) * 1000
                    walls[label, query].append(ms)
                    cpus[label, query].append(cpu)
                    if round_:
                        continue
                    place = next((i for i, h in enumerate(found) if h.customer_id == want), None)
                    measured[label, query] = (place is not None, 0.0, 0.0)
                    rows.append(
                        {
                            "impl": label,
                            "sets": [name for name, qs in members.items() if query in qs],
                            "kind": kind,
                            "query": q,
                            "wanted": want,
                            "place": place,
                            "top": [h.customer_id for h in found[:3]],
                        }
                    )
    for key, (hit, _ms, _cpu) in measured.items():
        measured[key] = (hit, statistics.median(walls[key]), statistics.median(cpus[key]))
    for row in rows:
        key = (row["impl"], (row["kind"], row["query"], row["wanted"]))
        row["ms"] = round(measured[key][1], 2)
        row["cpu_ms"] = round(measured[key][2], 2)
    engine.dispose()
    if dump is not None:
        dump.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    load = [round(x, 2) for x in os.getloadavg()]
    out = []
    for name, qs in sets.items():
        for label, _fn in variants:
            hits: dict[str, list[bool]] = defaultdict(list)
            times: dict[str, list[float]] = defaultdict(list)
            cpu_times: list[float] = []
            for query in qs:
                hit, ms, cpu = measured[label, query]
                hits[query[0]].append(hit)
                times[query[0]].append(ms)
                cpu_times.append(cpu)
            every = [t for v in times.values() for t in v]
            total = sum(sum(v) for v in hits.values())
            out.append(
                {
                    "backend": backend,
                    "customers": customers,
                    "set": name,
                    "impl": label,
                    "queries": len(qs),
                    "fill_s": round(fill_s, 1) if fill_s is not None else "reused",
                    "top10_hit_rate": round(100 * total / len(qs), 2),
                    "by_kind": {k: round(100 * sum(v) / len(v), 1) for k, v in hits.items()},
                    "p50_ms": round(statistics.median(every), 2),
                    "p95_ms": _p95(every),
                    "max_ms": round(max(every), 2),
                    "cpu_p50_ms": round(statistics.median(cpu_times), 2),
                    "cpu_p95_ms": _p95(cpu_times),
                    "repeat": repeat,
                    "p95_ms_by_kind": {k: _p95(v) for k, v in times.items()},
                    "misses": [q for q in qs if not measured[label, q][0] and q[0] in NAME_KINDS][
                        :40
                    ],
                    "load_average": load,
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
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds over the whole query set; each query's median wall and CPU time is kept",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    out = [
        result
        for b in args.backend or ["sqlite"]
        for result in run(
            b, args.customers, args.queries, args.seed, args.work, args.impl, args.dump, args.repeat
        )
    ]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
