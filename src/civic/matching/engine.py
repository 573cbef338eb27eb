"""The Fellegi–Sunter model, on Splink 5 with its embedded DuckDB backend (or, chosen by a
setting, Splink's Spark backend: ``backend="spark"``, docs/scaling.md). This is the ONLY
module that imports splink (ARCHITECTURE.md): everything else hands it normalised records
(``records.COLUMNS``) and gets back plain values.

- ``settings()``: the comparisons, written with utility knowledge: term-frequency adjusted
  names, nickname-equal first names, generational suffixes, an equal identity reference as
  very strong evidence, and the account number's location part against its occupant sequence
  (a later occupant of a location, the earlier one inactive, is a successor, not a copy).
- ``train()``: unsupervised: u by random sampling, the prior from deterministic rules, m by
  expectation maximisation over a few blocking rules. Returns the model as JSON-able dict.
- ``predict()``: scores the blocked pairs with a trained model; every pair carries, per
  comparison, the level it fell in and the match weight it added; pairs are clustered with
  Splink's connected components.

The model is always stored as DuckDB SQL (the comparisons below): on Spark its conditions and
blocking rules are translated when a linker is made (``spark_sql``), and a model trained on
Spark is stored with the DuckDB SQL again, so either backend uses a model the other trained.
"""

from __future__ import annotations

import atexit
import copy
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.exceptions import EMTrainingException

from civic.errors import CivicError, InvalidInput
from civic.matching.records import COLUMNS

MODEL_FORMAT = "civic-match-model/1"


class TooFewRecords(InvalidInput):
    """Training found no pairs to learn from."""


Backend = Literal["duckdb", "spark"]
"""Where Splink runs: DuckDB embedded in this process, or Spark (local or a cluster)."""
BACKENDS: tuple[Backend, ...] = ("duckdb", "spark")


class BackendUnavailable(CivicError):
    """The chosen backend cannot run here (pyspark not installed, no Java, ...)."""

    status = 503
    code = "backend_unavailable"


_SCHEMA = pa.schema(
    [
        ("unique_id", pa.int64()),
        ("community_id", pa.int64()),
        ("first_name", pa.string()),
        ("first_nicks", pa.list_(pa.string())),
        ("first_initial", pa.string()),
        ("middle_initial", pa.string()),
        ("last_name", pa.string()),
        ("last_initial", pa.string()),
        ("suffix", pa.string()),
        ("business_name", pa.string()),
        ("street", pa.string()),
        ("unit", pa.string()),
        ("address", pa.string()),
        ("mailing", pa.string()),
        ("zip5", pa.string()),
        ("phone", pa.string()),
        ("email", pa.string()),
        ("refs", pa.list_(pa.string())),
        ("ref_key", pa.string()),
        ("location", pa.string()),
        ("occupant", pa.string()),
        ("inactive", pa.bool_()),
    ]
)
assert tuple(_SCHEMA.names) == COLUMNS

EVIDENCE_VALUES: dict[str, tuple[str, ...]] = {
    "reference": ("refs",),
    "first_name": ("first_name",),
    "middle_initial": ("middle_initial",),
    "last_name": ("last_name",),
    "suffix": ("suffix",),
    "business_name": ("business_name",),
    "address": ("address",),
    "mailing": ("mailing", "address"),
    "zip": ("zip5",),
    "phone": ("phone",),
    "email": ("email",),
    "account": ("location", "occupant", "inactive"),
}
"""Per comparison, the record columns it looks at (shown as evidence)."""


def _null(*cols: str) -> dict[str, Any]:
    cond = " OR ".join(f"{c}_l IS NULL OR {c}_r IS NULL" for c in cols)
    return {"sql_condition": cond, "label_for_charts": "missing", "is_null_level": True}


def _level(sql: str, label: str, tf: str | None = None) -> dict[str, Any]:
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if tf:
        level["tf_adjustment_column"] = tf
        level["tf_adjustment_weight"] = 1.0
    return level


_ELSE: dict[str, Any] = {"sql_condition": "ELSE", "label_for_charts": "different"}


def _comparison(name: str, description: str, levels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "output_column_name": name,
        "comparison_description": description,
        "comparison_levels": levels,
    }


def comparisons() -> list[dict[str, Any]]:
    """The domain comparisons, as Splink settings dicts (saved verbatim in the model)."""
    jw = "jaro_winkler_similarity"
    return [
        _comparison(
            "reference",
            "identity references (social services reference, ...), normalised",
            [
                {
                    "sql_condition": "len(refs_l) = 0 OR len(refs_r) = 0",
                    "label_for_charts": "missing",
                    "is_null_level": True,
                },
                _level("len(list_intersect(refs_l, refs_r)) > 0", "equal reference"),
                _level(
                    "split_part(ref_key_l, ':', 1) = split_part(ref_key_r, ':', 1) "
                    "AND damerau_levenshtein(ref_key_l, ref_key_r) <= 1",
                    "reference off by one typo",
                ),
                _ELSE,
            ],
        ),
        _comparison(
            "first_name",
            "first name: exact (term-frequency adjusted), nickname, similar, initial",
            [
                _null("first_name"),
                _level("first_name_l = first_name_r", "exact", tf="first_name"),
                _level(
                    "list_contains(first_nicks_l, first_name_r) "
                    "OR list_contains(first_nicks_r, first_name_l)",
                    "nickname",
                ),
                _level(f"{jw}(first_name_l, first_name_r) >= 0.92", "similar (JW >= 0.92)"),
                _level(f"{jw}(first_name_l, first_name_r) >= 0.85", "similar (JW >= 0.85)"),
                _level(
                    "(len(first_name_l) = 1 OR len(first_name_r) = 1) "
                    "AND first_initial_l = first_initial_r",
                    "initial",
                ),
                _ELSE,
            ],
        ),
        _comparison(
            "middle_initial",
            "middle initial",
            [
                _null("middle_initial"),
                _level("middle_initial_l = middle_initial_r", "exact"),
                _ELSE,
            ],
        ),
        _comparison(
            "last_name",
            "last name: exact (term-frequency adjusted) or similar",
            [
                _null("last_name"),
                _level("last_name_l = last_name_r", "exact", tf="last_name"),
                _level(
                    "first_name_l = last_name_r AND last_name_l = first_name_r",
                    "swapped with first name",
                ),
                _level(f"{jw}(last_name_l, last_name_r) >= 0.92", "similar (JW >= 0.92)"),
                _level(f"{jw}(last_name_l, last_name_r) >= 0.85", "similar (JW >= 0.85)"),
                _ELSE,
            ],
        ),
        _comparison(
            "suffix",
            "generational suffix (Jr, Sr, III): father and son differ here",
            [
                _level("suffix_l IS NULL AND suffix_r IS NULL", "neither has one"),
                _level("suffix_l = suffix_r", "equal"),
                _ELSE,
            ],
        ),
        _comparison(
            "business_name",
            "business name",
            [
                _null("business_name"),
                _level("business_name_l = business_name_r", "exact", tf="business_name"),
                _level(f"{jw}(business_name_l, business_name_r) >= 0.9", "similar"),
                _ELSE,
            ],
        ),
        _comparison(
            "address",
            "service address, USPS-normalised (street and unit)",
            [
                _null("street"),
                _level("address_l = address_r", "exact"),
                _level(
                    "street_l = street_r AND (unit_l IS NULL OR unit_r IS NULL)",
                    "same street address, one without unit",
                ),
                _level(
                    "split_part(street_l, ' ', 1) = split_part(street_r, ' ', 1) "
                    f"AND {jw}(street_l, street_r) >= 0.9 "
                    "AND coalesce(unit_l, '') = coalesce(unit_r, '')",
                    "similar street address",
                ),
                _level("street_l = street_r", "same building, other unit"),
                _ELSE,
            ],
        ),
        _comparison(
            "mailing",
            "mailing address: the same, or one's mailing address is the other's service address",
            [
                {
                    "sql_condition": "(mailing_l IS NULL AND mailing_r IS NULL) "
                    "OR coalesce(mailing_l, address_l) IS NULL "
                    "OR coalesce(mailing_r, address_r) IS NULL",
                    "label_for_charts": "missing",
                    "is_null_level": True,
                },
                _level(
                    "coalesce(mailing_l, address_l) = coalesce(mailing_r, address_r)",
                    "bills go to one address",
                ),
                _ELSE,
            ],
        ),
        _comparison(
            "zip",
            "ZIP code (ZIP+4 reduced to ZIP5)",
            [
                _null("zip5"),
                _level("zip5_l = zip5_r", "exact"),
                _level("damerau_levenshtein(zip5_l, zip5_r) <= 1", "one digit off"),
                _ELSE,
            ],
        ),
        _comparison(
            "phone",
            "phone number, digits only",
            [
                _null("phone"),
                _level("phone_l = phone_r", "exact"),
                _level("right(phone_l, 7) = right(phone_r, 7)", "same last seven digits"),
                _ELSE,
            ],
        ),
        _comparison(
            "email",
            "e-mail address, lower case",
            [_null("email"), _level("email_l = email_r", "exact"), _ELSE],
        ),
        _comparison(
            "account",
            "account number: location part against occupant sequence",
            [
                _null("location"),
                _level(
                    "location_l = location_r AND occupant_l <> occupant_r "
                    "AND (inactive_l OR inactive_r)",
                    "successor at one location (earlier account inactive)",
                ),
                _level("location_l = location_r", "same location, both active"),
                _ELSE,
            ],
        ),
    ]


def _ref_half(side: str, half: str) -> str:
    """The reference type and the first (or second) half of its digits, as SQL; NULL when the
    reference has fewer than six digits."""
    digits = f"regexp_replace({side}.ref_key, '[^0-9]', '', 'g')"
    cut = f"len({digits}) // 2"
    part = f"left({digits}, {cut})" if half == "left" else f"right({digits}, len({digits}) - {cut})"
    return (
        f"CASE WHEN len({digits}) >= 6 THEN split_part({side}.ref_key, ':', 1) || ':' || {part} END"
    )


def blocking_rules() -> list[Any]:
    """Which pairs are scored at all (within one community). Each rule keeps its blocks small
    as the ledger grows: a bare first + last name rule would grow with the square of the town
    (every "James Smith" against every other), so names are paired with a ZIP or a house
    number."""
    house = "split_part({side}.street, ' ', 1)"
    same_house = f"{house.format(side='l')} = {house.format(side='r')}"
    return [
        block_on("community_id", "ref_key"),
        block_on("community_id", "address"),
        block_on("community_id", "phone"),
        block_on("community_id", "email"),
        block_on("community_id", "business_name"),
        block_on("community_id", "first_name", "last_name", "zip5"),
        block_on("community_id", "street", "last_initial"),
        # a reference with one typo still has its first or its second half of digits
        "l.community_id = r.community_id AND l.last_initial = r.last_initial "
        f"AND {_ref_half('l', 'left')} = {_ref_half('r', 'left')}",
        f"l.community_id = r.community_id AND {_ref_half('l', 'right')} = "
        f"{_ref_half('r', 'right')}",
        "l.community_id = r.community_id AND l.first_name = r.last_name "
        "AND l.last_name = r.first_name",
        "l.community_id = r.community_id AND l.zip5 = r.zip5 "
        f"AND l.last_initial = r.last_initial AND {same_house}",
        f"l.community_id = r.community_id AND l.last_name = r.last_name AND {same_house}",
        f"l.community_id = r.community_id AND l.first_name = r.first_name AND {same_house}",
    ]


def _training_rules() -> list[Any]:
    return [
        block_on("community_id", "first_name", "last_name"),
        block_on("community_id", "phone"),
        block_on("community_id", "address", "last_initial"),
    ]


DUCKDB_MEMORY_LIMIT = "3GB"
"""DuckDB spills to disk beyond this (the whole run must stay well under 6 GiB)."""
TRAIN_RECORDS = 400_000
"""A larger ledger trains on a random sample of this many records (the model's parameters are
proportions, which a sample of this size estimates well; training on all takes minutes)."""
EM_RECORDS = 250_000
"""EM trains on a sample of about this many records (all of them in a smaller ledger)."""


def _settings(model: Mapping[str, Any] | None) -> Any:
    if model is not None:
        return dict(model["splink"])
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=list[Any](comparisons()),
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        probability_two_random_records_match=0.0001,
    )


def _quiet() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _Session:
    """One DuckDB connection, the input table registered, and a Linker over it."""

    def __init__(
        self,
        columns: Mapping[str, Sequence[Any]],
        model: Mapping[str, Any] | None,
        *,
        sample: int | None = None,
        seed: int = 42,
    ):
        _quiet()
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        self.con.execute("SET preserve_insertion_order = false")
        self.api = DuckDBAPI(self.con)
        table = _input_table(columns, sample, seed)
        self.count = table.num_rows
        self.input = self.api.register(table, table_name="civic_customers")
        self.linker = Linker(self.input, _settings(model), log_level=logging.ERROR)

    def pairs(self, predictions: Any, model: Mapping[str, Any]) -> list[Scored]:
        return _read_pairs(self.con, predictions.physical_name, model)

    def heads(self, clustered: Any) -> dict[int, int]:
        rows = self.con.sql(
            f"SELECT unique_id, min(unique_id) OVER (PARTITION BY cluster_id) AS head "
            f"FROM {clustered.physical_name}"
        ).fetchall()
        return {int(uid): int(head) for uid, head in rows}

    def close(self) -> None:
        self.con.close()


def _input_table(columns: Mapping[str, Sequence[Any]], sample: int | None, seed: int) -> pa.Table:
    table = pa.Table.from_pydict(dict(columns), schema=_SCHEMA)
    if sample is not None and table.num_rows > sample:
        # records at random: duplicate pairs survive (both records picked) often
        # enough for EM, and the share of matching pairs is unchanged
        picked = sorted(random.Random(seed).sample(range(table.num_rows), sample))
        table = table.take(pa.array(picked, type=pa.int64()))
    return table


def _open(
    columns: Mapping[str, Sequence[Any]],
    model: Mapping[str, Any] | None,
    backend: Backend,
    *,
    sample: int | None = None,
    seed: int = 42,
) -> _Session | _SparkRun:
    if backend == "duckdb":
        return _Session(columns, model, sample=sample, seed=seed)
    if backend == "spark":
        return _SparkRun(columns, model, sample=sample, seed=seed)
    raise InvalidInput(f"match backend {backend!r}: expected one of {', '.join(BACKENDS)}")


class _RuleFailed(Exception):
    """EM under one training rule reached an m of 0, which Splink refuses mid-training."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def train(
    columns: Mapping[str, Sequence[Any]], *, seed: int = 42, backend: Backend = "duckdb"
) -> dict[str, Any]:
    """Train a model on these records (unsupervised) and return it as a JSON-able dict (its
    SQL is DuckDB's whichever ``backend`` trained it).

    In a small ledger EM under one blocking rule can drive a level's m to 0 (no pair under the
    rule fell in it), which Splink refuses part-way, leaving its linker unusable: training
    then starts again without that rule, and the other rules train that comparison."""
    skip: set[int] = set()
    while True:
        try:
            return _train_once(columns, seed=seed, skip=skip, backend=backend)
        except _RuleFailed as failed:
            skip.add(failed.index)


def _train_once(
    columns: Mapping[str, Sequence[Any]], *, seed: int, skip: set[int], backend: Backend
) -> dict[str, Any]:
    session = _open(columns, None, backend, sample=TRAIN_RECORDS, seed=seed)
    try:
        linker = session.linker
        linker.training.estimate_probability_two_random_records_match(
            [
                block_on("community_id", "first_name", "last_name", "address"),
                block_on("community_id", "ref_key"),
                block_on("community_id", "business_name", "address"),
            ],
            recall=0.8,
        )
        pairs = max(1e6, min(1e7, session.count * 10.0))
        # Splink samples u in chunks (one query per comparison and chunk, stopping once every
        # level is seen often enough): cheap in DuckDB, a Spark job each on Spark, where one
        # chunk per comparison is far faster
        chunks: dict[str, int] = {"num_chunks": 1} if backend == "spark" else {}
        linker.training.estimate_u_using_random_sampling(max_pairs=pairs, seed=seed, **chunks)
        sample = min(1.0, EM_RECORDS / max(1, session.count))
        trained = 0
        for index, rule in enumerate(_training_rules()):
            if index in skip:
                continue
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule,
                    estimate_without_term_frequencies=True,
                    record_sample_proportion=sample,
                )
            except EMTrainingException:
                continue  # no pairs under this rule in these records: the others train
            except ValueError as exc:
                if "m_probability" not in str(exc):
                    raise
                raise _RuleFailed(index) from exc
            trained += 1
        if trained == 0:
            raise TooFewRecords(
                f"{session.count} records are too few to train a model: match a larger set "
                "(or run `civic match run` on the ledger first, so its model is reused)"
            )
        splink_model = linker.misc.save_model_to_json()
        if backend != "duckdb":
            splink_model = _as_duckdb(splink_model)
        splink_model = _floor_m(splink_model)
    finally:
        session.close()
    return {"format": MODEL_FORMAT, "records": session.count, "splink": splink_model}


_M_FLOOR = 1e-4


def _floor_m(model: dict[str, Any]) -> dict[str, Any]:
    """A level EM saw no match in (m = 0, e.g. two records with one suffix in a small
    ledger) would veto every pair that falls in it; give it a small m instead."""
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            m = level.get("m_probability")
            if isinstance(m, int | float) and m < _M_FLOOR and not level.get("is_null_level"):
                level["m_probability"] = _M_FLOOR
    return model


@dataclass(frozen=True)
class Evidence:
    """One comparison's part in a pair's score."""

    comparison: str
    level: int
    label: str
    match_weight: float
    values_l: tuple[Any, ...]
    values_r: tuple[Any, ...]


@dataclass(frozen=True)
class Scored:
    id_l: int
    id_r: int
    match_weight: float
    match_probability: float
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Prediction:
    pairs: list[Scored]
    clusters: dict[int, int]
    """Record id -> the smallest record id of its cluster (records in no pair: absent)."""
    prior_weight: float


def _labels(model: Mapping[str, Any]) -> dict[str, dict[int, str]]:
    out: dict[str, dict[int, str]] = {}
    for comparison in model["splink"]["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        count = len(levels)
        mapping = {-1: "missing"}
        for i, lv in enumerate(levels):
            mapping[count - 1 - i] = str(lv.get("label_for_charts") or lv["sql_condition"])
        out[comparison["output_column_name"]] = mapping
    return out


def prior_weight(model: Mapping[str, Any]) -> float:
    p = float(model["splink"]["probability_two_random_records_match"])
    return math.log2(p / (1 - p))


def _value(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v) or None
    return v


def predict(
    columns: Mapping[str, Sequence[Any]],
    model: Mapping[str, Any],
    *,
    min_weight: float,
    cluster_weight: float | None = None,
    backend: Backend = "duckdb",
) -> Prediction:
    """Score the blocked pairs of these records with ``model``; keep pairs at or above
    ``min_weight``; cluster (connected components) at ``cluster_weight`` (default the
    same). On Spark the pairs are scored there and only those kept come back."""
    session = _open(columns, model, backend)
    try:
        linker = session.linker
        # DuckDB scores a large ledger in chunks, to stay within its memory limit; Spark
        # partitions the work itself
        chunks = max(1, session.count // 400_000) if backend == "duckdb" else 1
        predictions = linker.inference.predict(
            threshold_match_weight=min_weight,
            num_chunks_left=chunks if chunks > 1 else None,
            num_chunks_right=1 if chunks > 1 else None,
            warning_mode="never",
        )
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions,
            threshold_match_weight=min_weight if cluster_weight is None else cluster_weight,
        )
        pairs = session.pairs(predictions, model)
        clusters = session.heads(clustered)
    finally:
        session.close()
    return Prediction(pairs=pairs, clusters=clusters, prior_weight=prior_weight(model))


def link(
    incoming: Mapping[str, Sequence[Any]],
    existing: Mapping[str, Sequence[Any]],
    model: Mapping[str, Any],
    *,
    min_weight: float,
    term_frequencies: Mapping[str, Mapping[str, float]] | None = None,
) -> list[Scored]:
    """Score incoming records against existing ones as ONE link job (Splink's ``link_only``
    with the saved model and its blocking rules): pairs always join an incoming record to an
    existing one. Used at import, a batch at a time: far faster than one record at a time.
    Ids must differ between the two sides (the import gives incoming rows negative ids).
    ``term_frequencies`` (column -> value -> share of the population) replaces the term
    frequencies Splink would compute from these few records."""
    _quiet()
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        api = DuckDBAPI(con)
        left = api.register(
            pa.Table.from_pydict(dict(incoming), schema=_SCHEMA), table_name="civic_incoming"
        )
        right = api.register(
            pa.Table.from_pydict(dict(existing), schema=_SCHEMA), table_name="civic_existing"
        )
        settings = {**dict(model["splink"]), "link_type": "link_only"}
        linker = Linker([left, right], settings, log_level=logging.ERROR)
        for column, shares in (term_frequencies or {}).items():
            # the population's term frequencies (the batch alone would make every name rare)
            lookup = pa.table(
                {
                    column: pa.array(list(shares), type=pa.string()),
                    f"tf_{column}": pa.array(list(shares.values()), type=pa.float64()),
                }
            )
            frame = api.register(lookup, table_name=f"civic_tf_{column}")
            linker.table_management.register_term_frequency_lookup(frame, column)
        predictions = linker.inference.predict(
            threshold_match_weight=min_weight, warning_mode="never"
        )
        return _read_pairs(con, predictions.physical_name, model)
    finally:
        con.close()


def _read_pairs(
    con: duckdb.DuckDBPyConnection, table: str, model: Mapping[str, Any]
) -> list[Scored]:
    labels = _labels(model)
    names = list(labels)
    value_cols = sorted({c for cols in EVIDENCE_VALUES.values() for c in cols})
    select = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
    for name in names:
        select += [f"gamma_{name}", f"mw_{name}"]
        select.append(f"mw_tf_adj_{name}" if _has_tf(model, name) else "0.0")
    select += [f"{c}_l" for c in value_cols] + [f"{c}_r" for c in value_cols]
    result = con.sql(f"SELECT {', '.join(select)} FROM {table}").fetchall()
    out: list[Scored] = []
    base = 4 + 3 * len(names)
    width = len(value_cols)
    position = {c: i for i, c in enumerate(value_cols)}
    for row in result:
        evidence = []
        for i, name in enumerate(names):
            level = int(row[4 + 3 * i])
            weight = float(row[5 + 3 * i] or 0.0) + float(row[6 + 3 * i] or 0.0)
            cols = EVIDENCE_VALUES[name]
            evidence.append(
                Evidence(
                    comparison=name,
                    level=level,
                    label=labels[name].get(level, str(level)),
                    match_weight=round(weight, 4),
                    values_l=tuple(_value(row[base + position[c]]) for c in cols),
                    values_r=tuple(_value(row[base + width + position[c]]) for c in cols),
                )
            )
        out.append(
            Scored(
                id_l=int(row[0]),
                id_r=int(row[1]),
                match_weight=float(row[2]),
                match_probability=float(row[3]),
                evidence=tuple(evidence),
            )
        )
    return out


def _has_tf(model: Mapping[str, Any], name: str) -> bool:
    for comparison in model["splink"]["comparisons"]:
        if comparison["output_column_name"] == name:
            return any(lv.get("tf_adjustment_column") for lv in comparison["comparison_levels"])
    return False


# -- the Spark backend (docs/scaling.md) --------------------------------------------------------

SPARK_EXTRA = "pip install 'civic-ledger[spark]'"
SPARK_MASTER = "local[2]"
"""The default master: Spark in this process's JVM on two cores (``CIVIC_SPARK_MASTER``)."""
SPARK_LOCAL_CONF: dict[str, str] = {
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "8",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
"""Local mode only: a modest JVM, few shuffle partitions (Spark's 200 suit a cluster)."""
_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""
"""Local mode: the JVM logs errors only (its warnings at start-up are about Hadoop's native
libraries and the like, nothing a clerk can act on)."""


@dataclass
class _SparkState:
    master: str = SPARK_MASTER
    session: Any = None
    scratch: Path | None = None
    """Our temporary directory (local mode): shuffle spill and Splink's checkpoints."""
    runs: int = 0


_SPARK = _SparkState()


def configure_spark(master: str) -> None:
    """The master the process's Spark session is made for: ``local[N]``, ``spark://host:7077``,
    ``yarn``, ``k8s://...``. Takes effect when the session is made (first Spark run)."""
    _SPARK.master = master


def spark_session() -> Any:
    """The process's SparkSession, made on first use with Splink's similarity functions (its
    jar for Spark 4). In local mode it gets a modest configuration and a temporary checkpoint
    directory; on a cluster, Spark's own configuration (``spark-defaults.conf``) applies and
    must set ``spark.checkpoint.dir`` to a directory every executor reaches."""
    if _SPARK.session is not None:
        return _SPARK.session
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise BackendUnavailable(
            f"the spark match backend needs pyspark, which is not installed: {SPARK_EXTRA}"
        ) from exc
    from splink.backends.spark import similarity_jar_location

    logging.getLogger("py4j").setLevel(logging.ERROR)
    local = _SPARK.master.startswith("local")
    scratch = Path(tempfile.mkdtemp(prefix="civic-spark-"))
    builder = (
        SparkSession.builder.master(_SPARK.master)
        .appName("civic-match")
        .config("spark.jars", similarity_jar_location())
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # the Jaro-Winkler UDF runs in this process's Python (with its packages), not in
        # whatever `python3` is on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        log4j = scratch / "log4j2.properties"
        log4j.write_text(_LOG4J, encoding="utf-8")
        conf = {
            **SPARK_LOCAL_CONF,
            "spark.local.dir": str(scratch),
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j}",
        }
        for key, value in conf.items():
            builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # no Java, a master that does not answer, ...
        shutil.rmtree(scratch, ignore_errors=True)
        raise BackendUnavailable(
            f"Spark ({_SPARK.master}) did not start: {exc}. It needs Java 17 or newer "
            "(JAVA_HOME or java on PATH)."
        ) from exc
    spark.sparkContext.setLogLevel("ERROR")
    spark.udf.register(JARO_WINKLER_UDF, _jaro_winkler_udf())
    if spark.sparkContext._jsc.sc().getCheckpointDir().isEmpty():
        if not local:
            spark.stop()
            shutil.rmtree(scratch, ignore_errors=True)
            raise BackendUnavailable(
                "Spark on a cluster needs spark.checkpoint.dir (in spark-defaults.conf) set to "
                "a directory every executor can reach (HDFS, S3, a shared mount)"
            )
        _SPARK.scratch = scratch
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    _SPARK.session = spark
    atexit.register(stop_spark)
    return spark


def stop_spark() -> None:
    """Stop the process's Spark session (if one was made) and remove its temporary files."""
    spark, scratch = _SPARK.session, _SPARK.scratch
    _SPARK.session, _SPARK.scratch = None, None
    if spark is not None:
        spark.stop()
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


JARO_WINKLER_UDF = "civic_jaro_winkler"


def _jaro_winkler_udf() -> Any:
    """DuckDB's ``jaro_winkler_similarity`` as a Spark UDF (Arrow-batched Python, rapidfuzz:
    the same algorithm as DuckDB's, by the same author; checked equal on 200,000 pairs of
    names and addresses with typos). Splink's jar computes Jaro with half transpositions not
    rounded down, so "johnson"/"johson" is 0.908 there and 0.928 in DuckDB. Made in a closure
    so that Spark ships the function itself and an executor needs only rapidfuzz."""
    from pyspark.sql.functions import udf
    from pyspark.sql.types import DoubleType

    def jaro_winkler(left: str | None, right: str | None) -> float | None:
        from rapidfuzz.distance import JaroWinkler

        if left is None or right is None:
            return None
        if not left and not right:
            return 0.0  # DuckDB's value for two empty strings (rapidfuzz says 1.0)
        return float(JaroWinkler.similarity(left, right))

    return udf(jaro_winkler, DoubleType(), useArrow=True)


def _list_valued(node: Any) -> bool:
    from sqlglot import exp

    if isinstance(node, exp.Column):
        name = node.name
        if not node.table and name.endswith(("_l", "_r")):
            name = name[:-2]
        return name in _LIST_COLUMNS
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower() in ("list_intersect", "array_intersect")
    return isinstance(node, exp.ArrayIntersect)


def spark_sql(sql: str) -> str:
    """A comparison condition or blocking rule written for DuckDB (as models store them), in
    Spark SQL. sqlglot translates most of it; these it gets wrong for our columns: DuckDB's
    ``len`` of a list is Spark's ``size``, ``list_intersect`` is ``array_intersect``,
    ``damerau_levenshtein`` is the UDF of Splink's jar (the same distances), and
    ``jaro_winkler_similarity`` is ``civic_jaro_winkler`` (``_jaro_winkler_udf``: the jar's
    Jaro-Winkler counts transpositions differently and puts about one pair in two hundred of
    similar names on the other side of a threshold)."""
    import sqlglot
    from sqlglot import exp

    def functions(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.JarowinklerSimilarity):
            return exp.Anonymous(this=JARO_WINKLER_UDF, expressions=[node.this, node.expression])
        if isinstance(node, exp.Anonymous) and str(node.name).lower() == "list_intersect":
            return exp.Anonymous(this="array_intersect", expressions=node.expressions)
        return node

    def lengths(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Length) and _list_valued(node.this):
            return exp.Anonymous(this="size", expressions=[node.this])
        return node

    # two passes: a node a pass replaces is not visited again by that pass
    tree = sqlglot.parse_one(sql, read="duckdb").transform(functions).transform(lengths)
    return str(tree.sql(dialect="spark"))


_LIST_COLUMNS = frozenset(f.name for f in _SCHEMA if pa.types.is_list(f.type))


def _duckdb_settings() -> dict[str, Any]:
    """The untrained settings as DuckDB SQL (what a model stores)."""
    return dict(_settings(None).create_settings_dict("duckdb"), sql_dialect="duckdb")


def _for_spark(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings (a model or the untrained ones) with their SQL translated for Spark."""
    out = copy.deepcopy(dict(settings))
    out["sql_dialect"] = "spark"
    rules = []
    for rule in out["blocking_rules_to_generate_predictions"]:
        sql = rule["blocking_rule"] if isinstance(rule, dict) else str(rule)
        rules.append({"blocking_rule": spark_sql(sql), "sql_dialect": "spark"})
    out["blocking_rules_to_generate_predictions"] = rules
    for comparison in out["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level["sql_condition"].strip().upper() != "ELSE":
                level["sql_condition"] = spark_sql(level["sql_condition"])
    return out


def _as_duckdb(trained: Mapping[str, Any]) -> dict[str, Any]:
    """A model trained on Spark with its SQL put back as DuckDB's (the parameters kept): the
    Spark linker was made from exactly these settings, translated level by level. (A
    comparison Splink left out of the trained model, as it does when EM under a rule on
    that column found no pairs, stays out.)"""
    template = _duckdb_settings()
    source = {c["output_column_name"]: c for c in template["comparisons"]}
    out = dict(trained)
    out["sql_dialect"] = "duckdb"
    out["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": rule["blocking_rule"], "sql_dialect": "duckdb"}
        for rule in template["blocking_rules_to_generate_predictions"]
    ]
    comparisons = []
    for got in trained["comparisons"]:
        want = source[got["output_column_name"]]
        levels = []
        for level, original in zip(
            got["comparison_levels"], want["comparison_levels"], strict=True
        ):
            assert level.get("label_for_charts") == original.get("label_for_charts")
            levels.append({**level, "sql_condition": original["sql_condition"]})
        comparisons.append({**got, "comparison_levels": levels})
    out["comparisons"] = comparisons
    return out


class _SparkRun:
    """The input table as a Spark DataFrame and a Linker over Splink's SparkAPI; results come
    back to this process as Arrow and are read with the DuckDB path's own code."""

    def __init__(
        self,
        columns: Mapping[str, Sequence[Any]],
        model: Mapping[str, Any] | None,
        *,
        sample: int | None = None,
        seed: int = 42,
    ):
        from splink.backends.spark import SparkAPI

        _quiet()
        self.spark = spark_session()
        self.checkpoints: Path | None = None
        if _SPARK.scratch is not None:
            # one checkpoint directory per run, removed when it closes
            _SPARK.runs += 1
            self.checkpoints = _SPARK.scratch / f"run-{_SPARK.runs}"
            self.spark.sparkContext.setCheckpointDir(str(self.checkpoints))
        self.api = SparkAPI(spark_session=self.spark)  # type: ignore[no-untyped-call]
        self.spark.catalog.dropTempView("civic_customers")  # left by a run that failed
        table = _input_table(columns, sample, seed)
        self.count = table.num_rows
        self.input = self.api.register(self._stored(table), table_name="civic_customers")
        settings = _for_spark(_duckdb_settings() if model is None else model["splink"])
        self.linker = Linker(self.input, settings, log_level=logging.ERROR)

    def _stored(self, table: pa.Table) -> Any:
        """The records as Parquet files in the checkpoint directory, read back: a DataFrame
        made from local data carries that data in its query plan, and every query Splink
        builds over it (one join per blocking rule) copies it, which exhausts the driver's
        memory at 100,000 records."""
        frame = self.spark.createDataFrame(table)
        checkpoints = self.spark.sparkContext._jsc.sc().getCheckpointDir().get()
        path = f"{checkpoints}/civic_customers_{uuid.uuid4().hex}"
        frame.write.parquet(path)
        return self.spark.read.parquet(path)

    def pairs(self, predictions: Any, model: Mapping[str, Any]) -> list[Scored]:
        arrow = predictions.as_spark_dataframe().toArrow()
        con = duckdb.connect(":memory:")
        try:
            con.register("civic_predictions", arrow)
            return _read_pairs(con, "civic_predictions", model)
        finally:
            con.close()

    def heads(self, clustered: Any) -> dict[int, int]:
        arrow = self.spark.sql(
            f"SELECT unique_id, min(unique_id) OVER (PARTITION BY cluster_id) AS head "
            f"FROM {clustered.physical_name}"
        ).toArrow()
        ids, heads = arrow.column("unique_id").to_pylist(), arrow.column("head").to_pylist()
        return {int(uid): int(head) for uid, head in zip(ids, heads, strict=True)}

    def close(self) -> None:
        try:
            self.linker.table_management.delete_tables_created_by_splink_from_db()  # type: ignore[no-untyped-call]
            self.spark.catalog.dropTempView("civic_customers")
        finally:
            if self.checkpoints is not None:
                shutil.rmtree(self.checkpoints, ignore_errors=True)


# -- a generic configuration, for comparison in bench/ -----------------------------------------

GENERIC_COLUMNS: tuple[str, ...] = (
    "unique_id",
    "first_name",
    "surname",
    "address",
    "zip",
    "phone",
    "email",
)


def generic_predict(
    columns: Mapping[str, Sequence[Any]], *, min_weight: float, seed: int = 42
) -> list[tuple[int, int, float]]:
    """Splink with a generic person configuration and no domain normalisation (raw values,
    lower-cased): the library's stock comparisons, blocking and training. Returns
    ``(id_l, id_r, match_weight)`` at or above ``min_weight``. Used by the quality benchmark to
    show what the domain knowledge above adds."""
    from splink import comparison_library as cl

    _quiet()
    con = duckdb.connect(":memory:")
    try:
        api = DuckDBAPI(con)
        schema = pa.schema(
            [("unique_id", pa.int64())] + [(c, pa.string()) for c in GENERIC_COLUMNS[1:]]
        )
        table = pa.Table.from_pydict(dict(columns), schema=schema)
        data = api.register(table, table_name="generic_people")
        settings = SettingsCreator(
            link_type="dedupe_only",
            comparisons=[
                cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
                cl.NameComparison("surname").configure(term_frequency_adjustments=True),
                cl.LevenshteinAtThresholds("address", [1, 3]),
                cl.ExactMatch("zip"),
                cl.ExactMatch("phone"),
                cl.EmailComparison("email"),
            ],
            blocking_rules_to_generate_predictions=[
                block_on("first_name", "surname"),
                block_on("address"),
                block_on("phone"),
                block_on("zip", "surname"),
            ],
            retain_intermediate_calculation_columns=False,
        )
        linker = Linker(data, settings, log_level=logging.ERROR)
        linker.training.estimate_probability_two_random_records_match(
            [block_on("first_name", "surname", "address")], recall=0.8
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
        for rule in (block_on("first_name", "surname"), block_on("address")):
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True
            )
        predictions = linker.inference.predict(
            threshold_match_weight=min_weight, warning_mode="never"
        )
        rows = con.sql(
            f"SELECT unique_id_l, unique_id_r, match_weight FROM {predictions.physical_name}"
        ).fetchall()
    finally:
        con.close()
    return [(int(a), int(b), float(w)) for a, b, w in rows]
