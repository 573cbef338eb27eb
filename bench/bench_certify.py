"""Benchmark: tax certification and the integrity check on a sample town.

Targets (issue 5), on a town of 100,000 customers with 24 months of history, on SQLite and on
PostgreSQL: ``civic certify create`` and ``civic certify update-balances`` each under 60 s;
``civic check`` under 30 s.

The town is built once per backend with ``civic demo``; each of the ``--repeat`` rounds runs the
three real commands as a user would, on a fresh copy of that town (a file copy on SQLite, a
``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), and the median is reported.

    .venv/bin/python bench/bench_certify.py --customers 100000 --backend sqlite --backend postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

CIVIC = str(Path(sys.executable).parent / "civic")
PG_ADMIN = os.environ.get("CIVIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
STEPS = (
    (
        "certify create",
        [
            "certify",
            "create",
            "--date",
            "2026-10-31",
            "--period",
            "2026-10-31",
            "--fee",
            "25.00",
            "--collection-code",
            "TC",
            "--alert",
            "Tax certified {year}",
            "--json",
        ],
        60.0,
    ),
    (
        "certify update-balances",
        ["certify", "update-balances", "--date", "2026-11-02", "--json"],
        60.0,
    ),
    ("check", ["check", "--json"], 30.0),
)


def civic(*args: str, db: str) -> tuple[float, str]:
    env = {**os.environ, "CIVIC_LEDGER_URL": db, "CIVIC_ACTOR": "bench"}
    start = time.perf_counter()
    result = subprocess.run([CIVIC, *args], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1) or (result.returncode == 1 and args[0] != "check"):
        raise SystemExit(f"civic {' '.join(args)} failed: {result.stderr}")
    return elapsed, result.stdout


def admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def bench(backend: str, customers: int, repeat: int, workdir: Path) -> dict[str, object]:
    if backend == "sqlite":
        town = str(workdir / "town.db")
    else:
        town_name = f"civic_bench_{uuid.uuid4().hex[:8]}"
        admin(f'CREATE DATABASE "{town_name}"')
        town = pg_url(town_name)
    t0 = time.perf_counter()
    truth = str(workdir / f"{backend}.truth.json")
    civic("demo", "--customers", str(customers), "--truth", truth, "--json", db=town)
    build = time.perf_counter() - t0
    timings: dict[str, list[float]] = {name: [] for name, _, _ in STEPS}
    detail: dict[str, str] = {}
    try:
        for i in range(repeat):
            if backend == "sqlite":
                db = str(workdir / f"round{i}.db")
                shutil.copy(town, db)
            else:
                name = f"civic_bench_r{i}_{uuid.uuid4().hex[:6]}"
                admin(f'CREATE DATABASE "{name}" TEMPLATE "{town_name}"')
                db = pg_url(name)
            civic("init", db=db)  # untimed: bring the copy to the newest schema
            for step, args, _ in STEPS:
                elapsed, out = civic(*args, db=db)
                timings[step].append(elapsed)
                detail[step] = out[:300]
                print(f"  {backend} round {i + 1} {step}: {elapsed:.1f} s", flush=True)
            if backend == "sqlite":
                Path(db).unlink()
            else:
                admin(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        if backend != "sqlite":
            admin(f'DROP DATABASE IF EXISTS "{town_name}" WITH (FORCE)')
    return {
        "backend": backend,
        "customers": customers,
        "build_s": round(build, 1),
        "median_s": {k: round(statistics.median(v), 1) for k, v in timings.items()},
        "runs_s": {k: [round(x, 1) for x in v] for k, v in timings.items()},
        "target_s": {name: target for name, _, target in STEPS},
        "last_output": detail,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="civic-bench-") as tmp:
        for backend in args.backend or ["sqlite"]:
            results.append(bench(backend, args.customers, args.repeat, Path(tmp)))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
