"""Benchmark: how soon a committed ledger change is searchable in the portal (issue 4).

Target: in follow mode a committed ledger change is searchable in the portal within 2 s (p95).

1. The town is built once with ``civic demo`` (kept in ``--work`` between runs); the ledger
   keeps the customers and renames of earlier runs.
2. A fresh portal store gets its first sync (``civic sync run``), then a follower is started
   as its own process, as it is deployed: ``civic sync run --follow`` (with ``--interval``
   when given; else the communities' schedule, 1 s for a new community).
3. ``--changes`` times, one at a time, a change is committed to the ledger: a new customer
   with a charge (so that the portal shows it), or an existing customer's new last name. Each
   new name is a made-up word no customer has.
4. From the moment the ledger's commit returns, this process searches the portal store with
   ``civic.portal.store.search.search`` (the resident search: visible customers only) for the
   customer's first and last name, every ``--poll`` seconds, until the customer is among the
   hits under its new name; the latency is the end of that search. Then it waits a random
   time up to ``--gap``. This process is long-lived like the portal's web server (its typo
   dictionary is cached).

    .venv/bin/python bench/bench_follow.py --backend sqlite --backend postgresql
    .venv/bin/python bench/bench_follow.py --backend sqlite --interval 0.25
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import Engine

from civic.db import make_engine, read_only, transaction
from civic.ledger import service
from civic.ledger.tables import Community, Customer
from civic.money import Cents
from civic.portal.store import migrate
from civic.portal.store.search import search
from civic.portal.store.tables import PortalCustomer

CIVIC = str(Path(sys.executable).parent / "civic")
PG_ADMIN = os.environ.get("CIVIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"


def admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type,unused-ignore]


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
        name = f"civic_bench_follow_ledger_{customers}"
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


def fresh_portal(backend: str, work: Path) -> str:
    if backend == "sqlite":
        path = work / "portal-follow.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        name = f"civic_bench_follow_portal_{uuid.uuid4().hex[:6]}"
        admin(f'CREATE DATABASE "{name}"')
        url = pg_url(name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def drop_portal(backend: str, url: str) -> None:
    if backend == "postgresql":
        admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def made_up_name(rnd: random.Random, taken: set[str]) -> str:
    """A pronounceable word of nine letters that no customer has (nor any earlier one)."""
    while True:
        word = "".join(rnd.choice(CONSONANTS) + rnd.choice(VOWELS) for _ in range(4))
        word = (word + rnd.choice(CONSONANTS)).capitalize()
        if word not in taken:
            taken.add(word)
            return word


def _first_names(ledger: Engine) -> list[str]:
    with read_only(ledger) as s:
        names = s.scalars(
            select(Customer.first_name).where(Customer.first_name.is_not(None)).limit(2000)
        )
        return sorted({n for n in names if n and n.isalpha()})


def _renamable(portal: Engine) -> list[str]:
    """People the portal shows (visible after the first sync): a new name is searchable."""
    with read_only(portal) as s:
        return list(
            s.scalars(
                select(PortalCustomer.account_number)
                .where(
                    PortalCustomer.visible.is_(True),
                    PortalCustomer.first_name.is_not(None),
                    PortalCustomer.business_name.is_(None),
                )
                .order_by(PortalCustomer.id)
                .limit(5000)
            )
        )


def new_customer(ledger: Engine, first: str, last: str) -> str:
    with transaction(ledger) as s:
        community = s.scalars(select(Community).order_by(Community.id)).first()
        assert community is not None
        top = s.scalar(
            select(Customer.location)
            .where(Customer.community_id == community.id)
            .order_by(Customer.location.desc())
        )
        account = f"{int(top or 0) + 1:06d}-01"
        c = service.add_customer(
            s, community, account, {"first_name": first, "last_name": last}, actor="bench"
        )
        service.post_charge(s, c, "WA", Cents(2500), date.today(), actor="bench")
        return c.account_number


def rename(ledger: Engine, account: str, last: str) -> tuple[str, str]:
    with transaction(ledger) as s:
        c = service.get_customer(s, account)
        service.update_customer(s, c, {"last_name": last}, actor="bench")
        return c.first_name or "", c.account_number


def wait_searchable(
    portal: Engine, first: str, last: str, account: str, poll: float, timeout: float
) -> tuple[float, int, float]:
    """Seconds from now until a search for ``first last`` finds ``account`` under that new
    name (not its old one); searches made; the last search's own time."""
    query = f"{first} {last}"
    t0 = time.perf_counter()
    tries = 0
    while True:
        started = time.perf_counter()
        with read_only(portal) as s:
            hits = search(s, query)
        tries += 1
        done = time.perf_counter()
        if any(h.account_number == account and last in h.display_name for h in hits):
            return done - t0, tries, done - started
        if done - t0 > timeout:
            return float("inf"), tries, done - started
        time.sleep(poll)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def bench(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    url = ledger_url(backend, args.customers, args.work)
    ledger = make_engine(url)
    portal_url = fresh_portal(backend, args.work)
    portal = make_engine(portal_url)
    rnd = random.Random(args.seed)
    env = {**os.environ, "CIVIC_ACTOR": "bench"}
    follower: subprocess.Popen[bytes] | None = None
    out: dict[str, Any] = {"backend": backend, "customers": args.customers}
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [CIVIC, "sync", "run", "--ledger", url, "--portal", portal_url, "--json"],
            check=True,
            capture_output=True,
            env=env,
        )
        print(f"{backend}: first sync {time.perf_counter() - t0:.1f} s", flush=True)
        cmd = [CIVIC, "sync", "run", "--follow", "--ledger", url, "--portal", portal_url, "--json"]
        if args.interval is not None:
            cmd += ["--interval", str(args.interval)]
        log = open(args.work / f"follower-{backend}.log", "wb")  # noqa: SIM115
        follower = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        time.sleep(args.settle)
        firsts = _first_names(ledger)
        people = _renamable(portal)
        rnd.shuffle(people)
        taken: set[str] = set()
        latencies: dict[str, list[float]] = {"new customer": [], "name change": []}
        searches: list[float] = []
        missed: list[str] = []
        for n in range(args.changes):
            last = made_up_name(rnd, taken)
            if n % 2 == 0:
                kind, first = "new customer", rnd.choice(firsts)
                account = new_customer(ledger, first, last)
            else:
                kind = "name change"
                first, account = rename(ledger, people[n % len(people)], last)
            took, _tries, one = wait_searchable(
                portal, first, last, account, args.poll, args.timeout
            )
            searches.append(one)
            if took == float("inf"):
                missed.append(f"{kind} {account} {first} {last}")
            else:
                latencies[kind].append(took)
            time.sleep(rnd.uniform(0, args.gap))
        every = [x for xs in latencies.values() for x in xs]
        out.update(
            {
                "changes": args.changes,
                "missed": missed,
                "interval": args.interval if args.interval is not None else "schedule",
                "p50_s": round(statistics.median(every), 3),
                "p95_s": round(percentile(every, 0.95), 3),
                "max_s": round(max(every), 3),
                "by_kind": {
                    k: {
                        "n": len(v),
                        "p50_s": round(statistics.median(v), 3),
                        "p95_s": round(percentile(v, 0.95), 3),
                    }
                    for k, v in latencies.items()
                    if v
                },
                "search_p50_s": round(statistics.median(searches), 3),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "target_p95_s": 2.0,
            }
        )
        print(
            f"{backend}: p50 {out['p50_s']} s, p95 {out['p95_s']} s, max {out['max_s']} s, "
            f"{len(missed)} missed",
            flush=True,
        )
    finally:
        if follower is not None:
            follower.send_signal(signal.SIGTERM)
            try:
                follower.wait(30)
            except subprocess.TimeoutExpired:
                follower.kill()
        portal.dispose()
        ledger.dispose()
        drop_portal(backend, portal_url)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument(
        "--interval", type=float, default=None, help="the follower's --interval (default: none)"
    )
    parser.add_argument("--gap", type=float, default=1.0, help="most seconds between changes")
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between searches")
    parser.add_argument("--timeout", type=float, default=30.0, help="a change not found: missed")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds for the follower")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path("/tmp/civic_bench_follow"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = [bench(b, args) for b in args.backend or ["sqlite"]]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
