"""Benchmark: import 100,000 customers and 1,000,000 transactions from CSV.

Targets (SQLite, this machine): customers under 20 s, transactions under 90 s. The script writes
its own synthetic, deterministic CSVs (a fixed random seed), imports them with
``civic.ledger.imports.import_csv`` into a fresh ledger, and prints the timings and the peak RSS.
Each run is a separate process (so peak RSS is per run) on a fresh database; with ``--runs 3``
it prints the median.

    .venv/bin/python bench/bench_import.py --runs 3
    .venv/bin/python bench/bench_import.py --runs 1 --backend postgresql

For PostgreSQL it creates a throwaway database through ``--pg-admin`` and drops it afterwards.
Results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

FIRST = ["Jane", "John", "Maria", "Wei", "Ahmed", "Olga", "Luis", "Amara", "Sean", "Priya"]
LAST = ["O'Brien", "Smith", "Garcia", "Chen", "Khan", "Novak", "Lopez", "Okafor", "Walsh", "Rao"]
STREETS = ["Main St", "Oak Ave", "Elm St", "River Rd", "Hill Dr", "Lake Blvd", "Pine Ct"]
SEED = 20240131


def account(i: int) -> str:
    return f"{100000 + i:06d}-01"


def write_customers(path: Path, n: int) -> None:
    rng = random.Random(SEED)
    header = [
        "account_number",
        "first_name",
        "last_name",
        "business_name",
        "service_address",
        "city",
        "state",
        "zip",
        "phone",
        "email",
        "status",
        "created_date",
        "SSR",
    ]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(n):
            business = rng.random() < 0.05
            first, last = rng.choice(FIRST), rng.choice(LAST)
            w.writerow(
                [
                    account(i),
                    "" if business else first,
                    "" if business else last,
                    f"{last} Hardware LLC" if business else "",
                    f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}",
                    "Springfield",
                    "IL",
                    f"62{rng.randrange(700, 799)}",
                    f"217-555-{rng.randrange(10000):04d}",
                    f"{first.lower()}.{i}@example.com" if rng.random() < 0.6 else "",
                    "active" if rng.random() < 0.97 else "inactive",
                    (date(2000, 1, 1) + timedelta(days=rng.randrange(8000))).isoformat(),
                    f"SSR-{rng.randrange(10**7):07d}" if rng.random() < 0.2 else "",
                ]
            )


def write_transactions(path: Path, n: int, customers: int) -> None:
    """CHG/PAY/FEE/PADJ spread over two years, with 0.5% VOIDs of earlier payments."""
    rng = random.Random(SEED + 1)
    header = ["account_number", "service", "kind", "amount", "date", "reference"]
    header += ["description", "external_id", "voids"]
    payments: list[tuple[str, str, str]] = []  # (account, external id, amount) not yet voided
    start = date(2023, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(n):
            day = (start + timedelta(days=i * 730 // n)).isoformat()
            ext = f"T{i:08d}"
            roll = rng.random()
            if roll < 0.005 and payments:
                acct, paid, amount = payments.pop(rng.randrange(len(payments)))
                w.writerow([acct, "", "VOID", amount, day, "", "Returned check", ext, paid])
                continue
            acct = account(rng.randrange(customers))
            service = rng.choice(("WA", "SE", "GA"))
            amount = f"{rng.randrange(500, 20000) / 100:.2f}"
            if roll < 0.50:
                w.writerow([acct, service, "CHG", amount, day, "", "Monthly charge", ext, ""])
            elif roll < 0.86:
                ref = f"{rng.randrange(1000, 99999)}"
                w.writerow([acct, service, "PAY", amount, day, ref, "", ext, ""])
                payments.append((acct, ext, amount))
                if len(payments) > 5000:
                    payments.pop(0)
            elif roll < 0.93:
                w.writerow([acct, service, "FEE", "10.00", day, "", "Late fee", ext, ""])
            else:
                adj = f"-{rng.randrange(100, 2000) / 100:.2f}"
                w.writerow([acct, service, "PADJ", adj, day, "", "Adjustment", ext, ""])


def ensure_files(workdir: Path, customers: int, transactions: int) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    cpath = workdir / f"customers_{customers}.csv"
    tpath = workdir / f"transactions_{transactions}_{customers}.csv"
    if not cpath.exists():
        write_customers(cpath, customers)
    if not tpath.exists():
        write_transactions(tpath, transactions, customers)
    return cpath, tpath


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_run(args: argparse.Namespace) -> dict[str, float]:
    """Import both files into a fresh ledger at ``args.url``; timings and peak RSS."""
    from civic.db import make_engine, transaction
    from civic.ledger import migrate, service
    from civic.ledger.imports import import_csv

    cpath, tpath = ensure_files(Path(args.workdir), args.customers, args.transactions)
    engine = make_engine(args.url)
    migrate.upgrade(engine)
    with transaction(engine) as session:
        service.create_community(session, "BENCH", "Bench Town", actor="bench")
    result: dict[str, float] = {}
    for kind, path, mapping in (
        ("customers", cpath, {"SSR": "ref:ssr"}),
        ("transactions", tpath, {}),
    ):
        started = time.perf_counter()
        summary = import_csv(
            engine, kind, path, actor="bench", mapping=mapping, batch_size=args.batch_size
        )
        result[f"{kind}_s"] = round(time.perf_counter() - started, 2)
        result[f"{kind}_added"] = summary.added
        result[f"{kind}_rejected"] = summary.rejected
        result[f"{kind}_peak_rss_mb"] = round(peak_rss_mb(), 1)
    engine.dispose()
    return result


def run_in_subprocess(args: argparse.Namespace, url: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--one-run", "--url", url, "--workdir", args.workdir]
    cmd += ["--customers", str(args.customers), "--transactions", str(args.transactions)]
    cmd += ["--batch-size", str(args.batch_size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def fresh_url(args: argparse.Namespace, tmp: Path, run: int) -> tuple[str, str | None]:
    if args.backend == "sqlite":
        return f"sqlite:///{tmp / f'bench_{run}.db'}", None
    import psycopg

    name = f"civic_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return args.pg_admin.rsplit("/", 1)[0] + f"/{name}", name


def drop_db(args: argparse.Namespace, name: str | None) -> None:
    if name is None:
        return
    import psycopg

    with psycopg.connect(args.pg_admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-admin",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL URL used to create and drop the throwaway database",
    )
    parser.add_argument(
        "--workdir",
        default=str(Path(tempfile.gettempdir()) / "civic_bench_import"),
        help="where the generated CSVs are kept between runs",
    )
    parser.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        print(json.dumps(one_run(args)))
        return
    started = time.perf_counter()
    ensure_files(Path(args.workdir), args.customers, args.transactions)
    print(f"CSV files ready in {args.workdir} ({time.perf_counter() - started:.1f} s)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            url, dbname = fresh_url(args, Path(tmp), run)
            try:
                results.append(run_in_subprocess(args, url))
            finally:
                drop_db(args, dbname)
            print(f"run {run + 1} ({args.backend}): {json.dumps(results[-1])}", flush=True)
    for key in ("customers_s", "transactions_s"):
        values = [r[key] for r in results]
        print(f"median {key}: {statistics.median(values):.2f} (runs: {values})")
    rss = max(r["transactions_peak_rss_mb"] for r in results)
    print(f"peak RSS: {rss:.0f} MB")


if __name__ == "__main__":
    main()
