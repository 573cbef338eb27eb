"""Duplicate detection end to end at scale: ``civic match run`` on a sample town of N customers
(read from the ledger, normalise, train, predict, cluster, write the review queue), then a
second run that reuses the saved model. Wall time and peak memory (max RSS) of each run, each
in its own process.

    .venv/bin/python bench/bench_match_scale.py --customers 100000
    .venv/bin/python bench/bench_match_scale.py --db town.db   # a town built before
    .venv/bin/python bench/bench_match_scale.py --db town.db --communities 10  # 1,000,000

``--communities K`` first copies the town's customers and references, as they are, into K-1
new communities of a copy of the ledger with plain SQL (``civic demo`` needs about an hour for
a town of 1,000,000 here): K towns of the same size in one run. Blocking is within a community,
so this is K towns matched at once, not one town K times as large.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CIVIC = str(Path(sys.executable).parent / "civic")
_PEAK = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(done.returncode)"
)


def measured(*args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in GiB, and standard output of ``civic ARGS``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, CIVIC, *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"civic {' '.join(args)} failed:\n{done.stderr}")
    seconds = time.perf_counter() - started
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kib / 1024 / 1024, done.stdout


def copy_communities(src: Path, dst: Path, communities: int) -> None:
    """``dst``: the ledger ``src`` with its customers (and their references) copied verbatim
    into ``communities - 1`` new communities."""
    shutil.copy(src, dst)
    subprocess.run([CIVIC, "init", "--db", str(dst)], check=True, capture_output=True)
    con = sqlite3.connect(dst)
    (first,) = con.execute("SELECT min(id) FROM communities").fetchone()
    columns = (
        "account_number, location, occupant, first_name, middle_name, last_name, suffix, "
        "business_name, service_address, mailing_address, city, state, zip, phone, email, "
        "status, online_access, collection_code, master_customer_id, merged_into_id, "
        "created_date, created_at, updated_at, version"
    )
    for k in range(2, communities + 1):
        cur = con.execute(
            "INSERT INTO communities (code, name, period_months) "
            "SELECT code || ?, name || ?, period_months FROM communities WHERE id = ?",
            (str(k), f" {k}", first),
        )
        cid = cur.lastrowid
        # links to other customers (consolidated billing, merges) would cross communities
        picked = columns.replace("master_customer_id, merged_into_id", "NULL, NULL")
        con.execute(
            f"INSERT INTO customers (community_id, {columns}) "
            f"SELECT ?, {picked} FROM customers WHERE community_id = ? "
            "AND merged_into_id IS NULL",
            (cid, first),
        )
        con.execute(
            "INSERT INTO customer_refs (customer_id, ref_type, value, normalized) "
            "SELECT c2.id, r.ref_type, r.value, r.normalized FROM customer_refs r "
            "JOIN customers c1 ON c1.id = r.customer_id "
            "JOIN customers c2 ON c2.community_id = ? AND c2.account_number = c1.account_number "
            "WHERE c1.community_id = ?",
            (cid, first),
        )
        con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--db", help="Use this sample town instead of building one.")
    parser.add_argument(
        "--communities", type=int, default=1, help="Copy the town into this many communities."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db
        if args.communities > 1:
            if db is None:
                parser.error("--communities needs --db (a town built before)")
            copied = Path(tmp) / "towns.db"
            started = time.perf_counter()
            copy_communities(Path(db), copied, args.communities)
            print(f"{args.communities} communities made in {time.perf_counter() - started:.1f} s")
            db = str(copied)
        if db is None:
            db = str(Path(tmp) / "town.db")
            seconds, _, _ = measured(
                "demo", "--db", db, "--customers", str(args.customers), "--seed", str(args.seed)
            )
            print(f"sample town of {args.customers:,} customers built in {seconds:.1f} s")
        for label, extra in (("train + match", ["--retrain"]), ("match, saved model", [])):
            seconds, peak, out = measured("match", "run", "--db", db, "--json", *extra)
            s = json.loads(out)
            print(
                f"{label}: {s['records']:,} customers, {seconds:.1f} s wall "
                f"({s['seconds']:.1f} s in the run), peak RSS {peak:.2f} GiB, "
                f"{s['pairs']:,} pairs ({s['merge_tier']:,} merge, {s['review_tier']:,} review)"
            )


if __name__ == "__main__":
    main()
