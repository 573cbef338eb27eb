"""Duplicate detection end to end at scale: ``civic match run`` on a sample town of N customers
(read from the ledger, normalise, train, predict, cluster, write the review queue), then a
second run that reuses the saved model. Wall time and peak memory (max RSS) of each run, each
in its own process.

    .venv/bin/python bench/bench_match_scale.py --customers 100000
    .venv/bin/python bench/bench_match_scale.py --db town.db   # a town built before
"""

from __future__ import annotations

import argparse
import json
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
        [sys.executable, "-c", _PEAK, CIVIC, *args], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - started
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kib / 1024 / 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--db", help="Use this sample town instead of building one.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db
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
