"""Import-time matching (prevention at import) at scale: ``civic import customers`` of 10,000
new-account rows against a ledger of N existing customers in ONE community, each row matched
before it may create a customer (reference equality, then one Splink link job per batch with
the saved model).

Target (issue 3): 10,000 incoming rows against 1,000,000 existing customers at 1,000 rows/s or
more, on SQLite.

    .venv/bin/civic demo --customers 100000 --seed 42 --db /tmp/civic_bench_prevent/town100k.db
    .venv/bin/python bench/bench_import_match.py --town /tmp/civic_bench_prevent/town100k.db \\
        --copies 1 --copies 10

Steps, from a sample town built once with ``civic demo``:

1. copy the town's ledger file, migrate it, train and save the model with
   ``civic match run --retrain`` (on the town's own 100,000);
2. with ``--copies K`` > 1, add K-1 copies of the town's customers to the SAME community with
   plain SQL: new account numbers (location + k x 95,000), first and last names and addresses
   taken from other rows (so a copy is not a duplicate), new house numbers, phone numbers and
   e-mails; their SSR references get new numbers. K = 10 gives 1,000,000 customers;
3. write 10,000 incoming rows with new account numbers (fixed seed): 1,000 existing customers
   with an SSR written another way (reference path), 2,000 existing customers written another
   way (case, punctuation, phone format, street abbreviations; scored), 7,000 new people (names
   and streets recombined, new house numbers);
4. time ``civic import customers FILE --json`` in a fresh process (wall time as the clerk sees
   it, peak RSS) on a fresh copy of the prepared ledger: "cold", with no cached candidate keys
   (the first import into this ledger computes them for every customer), and "warm", after an
   earlier one-row import left them cached beside the ledger file (every later import);
   then the same file with ``import_csv`` and no screening, for comparison.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sqlite3
import statistics
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
_PLAIN = (
    "import sys, json; from civic.db import make_engine; "
    "from civic.ledger.imports import import_csv; "
    "e = make_engine(sys.argv[1]); s = import_csv(e, 'customers', sys.argv[2], actor='bench'); "
    "print(json.dumps({'added': s.added, 'seconds': s.seconds}))"
)
SEED = 20261202
OFFSET = 95_000
"""Location offset of each copy (the town's locations span 010001-104602)."""
HEADER = [
    "account_number",
    "first_name",
    "last_name",
    "service_address",
    "zip",
    "phone",
    "email",
    "ref:ssr",
]


def run(*args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GiB) and standard output of a command in a fresh process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, *args], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kib / 1024 / 1024, done.stdout


def prepare(town: Path, work: Path, copies: int) -> Path:
    ledger = work / f"ledger-{copies}.db"
    if ledger.exists():
        return ledger
    tmp = work / "preparing.db"
    shutil.copy(town, tmp)
    url = f"sqlite:///{tmp}"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from civic.db import make_engine; from civic.ledger import migrate; "
            "migrate.upgrade(make_engine(sys.argv[1]))",
            url,
        ],
        check=True,
    )
    seconds, _peak, _out = run(CIVIC, "match", "run", "--retrain", "--db", url, "--json")
    print(f"model trained on the town in {seconds:.1f} s")
    if copies > 1:
        started = time.perf_counter()
        _copy(tmp, copies)
        print(f"{copies - 1} copies added in {time.perf_counter() - started:.1f} s")
    tmp.rename(ledger)
    return ledger


def _copy(db: Path, copies: int) -> None:
    con = sqlite3.connect(db)
    con.executescript(
        """
        CREATE TEMP TABLE src AS
            SELECT row_number() OVER (ORDER BY id) - 1 AS rn, * FROM customers;
        CREATE UNIQUE INDEX temp.src_rn ON src (rn);
        """
    )
    (n,) = con.execute("SELECT count(*) FROM src").fetchone()
    for k in range(1, copies):
        con.execute(
            f"""
            INSERT INTO customers (community_id, account_number, location, occupant,
                first_name, middle_name, last_name, suffix, business_name, service_address,
                mailing_address, city, state, zip, phone, email, status, online_access,
                collection_code, master_customer_id, merged_into_id, created_date, created_at,
                updated_at, version)
            SELECT a.community_id,
                printf('%06d', CAST(a.location AS INTEGER) + {k * OFFSET}) || '-' || a.occupant,
                printf('%06d', CAST(a.location AS INTEGER) + {k * OFFSET}), a.occupant,
                b.first_name, a.middle_name, coalesce(c.last_name, a.last_name), a.suffix,
                a.business_name,
                CASE WHEN d.service_address GLOB '[0-9]*' AND instr(d.service_address, ' ') > 0
                    THEN (CAST(substr(d.service_address, 1, instr(d.service_address, ' ') - 1)
                          AS INTEGER) + {k * 10000})
                         || substr(d.service_address, instr(d.service_address, ' '))
                    ELSE d.service_address END,
                NULL, a.city, a.state, d.zip,
                CASE WHEN a.phone IS NULL THEN NULL
                    ELSE '541' || printf('%07d', abs(random()) % 10000000) END,
                CASE WHEN a.email IS NULL THEN NULL
                    ELSE lower(b.first_name || '.' || c.last_name || '{k}' || a.rn)
                         || '@example.org' END,
                a.status, a.online_access, NULL, NULL, NULL, a.created_date, a.created_at,
                a.updated_at, 1
            FROM src a
            JOIN src b ON b.rn = (a.rn + {k * 7919}) % {n}
            JOIN src c ON c.rn = (a.rn + {k * 31337}) % {n}
            JOIN src d ON d.rn = (a.rn + {k * 104729}) % {n}
            WHERE a.merged_into_id IS NULL
            """
        )
        con.execute(
            f"""
            INSERT INTO customer_refs (customer_id, ref_type, value, normalized)
            SELECT c2.id, r.ref_type, 'SSR{k}' || substr(r.normalized, 4),
                   'SSR{k}' || substr(r.normalized, 4)
            FROM customer_refs r
            JOIN src a ON a.id = r.customer_id
            JOIN customers c2 ON c2.community_id = a.community_id
                AND c2.account_number =
                    printf('%06d', CAST(a.location AS INTEGER) + {k * OFFSET}) || '-' || a.occupant
            WHERE r.ref_type = 'ssr'
            """
        )
        con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()


_STREET_WORDS = {"St": "Street", "Ave": "Avenue", "Rd": "Road", "Dr": "Drive", "Ln": "Lane"}


def _variant_address(address: str) -> str:
    words = address.split(" ")
    if words and words[-1] in _STREET_WORDS:
        words[-1] = _STREET_WORDS[words[-1]]
    return " ".join(words).upper()


def _variant_phone(phone: str | None) -> str:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}" if len(digits) == 10 else ""


def write_incoming(db: Path, path: Path, rows: int) -> None:
    """``rows`` incoming customers: 10% existing with their SSR written another way, 20%
    existing written another way, 70% new people (fixed seed)."""
    rng = random.Random(SEED)
    con = sqlite3.connect(db)
    people = con.execute(
        "SELECT c.id, first_name, last_name, service_address, zip, phone, email, "
        "(SELECT normalized FROM customer_refs r WHERE r.customer_id = c.id "
        " AND r.ref_type = 'ssr') FROM customers c "
        "WHERE location < '105000' AND status IN ('active', 'inactive') "
        "AND merged_into_id IS NULL AND last_name IS NOT NULL AND service_address IS NOT NULL"
    ).fetchall()
    con.close()
    with_ssr = [p for p in people if p[7]]
    without = [p for p in people if not p[7]]
    ref_rows = rng.sample(with_ssr, rows // 10)
    variant_rows = rng.sample(without, rows // 5)
    out: list[list[str]] = []
    for p in ref_rows:
        ssr = p[7]
        out.append([p[1] or "", p[2], p[3], p[4] or "", p[5] or "", p[6] or "", f" ssr-{ssr[3:]}"])
    for p in variant_rows:
        out.append(
            [
                (p[1] or "").upper(),
                p[2].upper(),
                _variant_address(p[3]),
                (p[4] or "")[:5],
                _variant_phone(p[5]),
                (p[6] or "").upper(),
                "",
            ]
        )
    for _ in range(rows - len(out)):
        a, b, c = rng.choice(people), rng.choice(people), rng.choice(people)
        street = c[3].split(" ", 1)[1] if " " in c[3] else c[3]
        phone = f"541{rng.randrange(10**7):07d}"
        out.append(
            [a[1] or "", b[2], f"{rng.randrange(10000, 20000)} {street}", c[4] or "", phone, "", ""]
        )
    rng.shuffle(out)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i, row in enumerate(out):
            w.writerow([f"{960000 + i:06d}-01", *row])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--town", required=True, type=Path, help="A `civic demo` ledger file.")
    parser.add_argument("--copies", type=int, action="append", help="1 (the town) or 10 (1M).")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--work", type=Path, help="Keep prepared ledgers here between runs.")
    parser.add_argument("--repeat", type=int, default=3, help="Imports timed per case (median).")
    args = parser.parse_args()
    work_dir = args.work or Path(tempfile.mkdtemp(prefix="civic_bench_prevent_"))
    work_dir.mkdir(parents=True, exist_ok=True)
    for copies in args.copies or [1]:
        ledger = prepare(args.town, work_dir, copies)
        con = sqlite3.connect(ledger)
        (existing,) = con.execute(
            "SELECT count(*) FROM customers WHERE status IN ('active', 'inactive') "
            "AND merged_into_id IS NULL"
        ).fetchone()
        con.close()
        incoming = work_dir / f"incoming-{copies}.csv"
        write_incoming(ledger, incoming, args.rows)
        warm_up = work_dir / "warm-up.csv"
        warm_up.write_text(
            "account_number,first_name,last_name,service_address,zip\n"
            "999999-01,Warm,Up,1 Cache Ln,97479\n",
            encoding="utf-8",
        )
        for label in ("cold", "warm"):
            trial = work_dir / "trial.db"
            walls: list[float] = []
            inside: list[float] = []
            for _ in range(args.repeat):
                for old in work_dir.glob("trial.db*"):
                    old.unlink()
                shutil.copy(ledger, trial)
                os.sync()  # the copy's gigabytes written out first, not during the import
                url = f"sqlite:///{trial}"
                if label == "warm":  # an earlier import left the candidate keys cached
                    run(CIVIC, "import", "customers", str(warm_up), "--db", url, "--json")
                seconds, peak, out = run(
                    CIVIC, "import", "customers", str(incoming), "--db", url, "--json"
                )
                s = json.loads(out)
                walls.append(seconds)
                inside.append(s["seconds"])
            seconds = statistics.median(walls)
            print(
                f"{existing:,} existing customers, {s['read']:,} incoming rows, {label} key cache: "
                f"{seconds:.1f} s wall median of {', '.join(f'{w:.1f}' for w in walls)} "
                f"({statistics.median(inside):.1f} s in the import) = "
                f"{s['read'] / seconds:,.0f} rows/s, peak RSS {peak:.2f} GiB; "
                f"{s['attached_by_reference']:,} attached by reference, "
                f"{s['attached_by_score']:,} by score, {s['held']:,} held, "
                f"{s['created']:,} created, {s['rejected']:,} rejected [{s['screening']}]"
            )
        for old in work_dir.glob("trial.db*"):
            old.unlink()
        shutil.copy(ledger, trial)
        seconds, peak, out = run(sys.executable, "-c", _PLAIN, f"sqlite:///{trial}", str(incoming))
        plain = json.loads(out)
        print(
            f"  the same file without screening: {seconds:.1f} s wall "
            f"({plain['seconds']:.1f} s in the import), {plain['added']:,} added"
        )
        for old in work_dir.glob("trial.db*"):
            old.unlink()


if __name__ == "__main__":
    main()
