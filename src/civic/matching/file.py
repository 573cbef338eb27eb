"""Score a raw CSV export without importing it (``civic match file``): what a city does to
clean a legacy export before migrating. The file is read with the CSV import's own reader and
``--map`` parser (canonical customer field names, ``ref:TYPE``), normalised and scored with the
same model as the ledger's review queue."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civic.errors import InvalidInput
from civic.ledger.imports import canonical_fields
from civic.ledger.imports_csv import CsvFile, detect_encoding, resolve_columns
from civic.matching import engine, records, tiers

HEADER = ("id_l", "id_r", "match_probability", "tier", "classification")


@dataclass(frozen=True)
class FilePair:
    id_l: str
    id_r: str
    match_probability: float
    tier: str
    classification: str


def read_sources(
    path: Path, id_column: str, mapping: Mapping[str, str]
) -> tuple[list[records.SourceRecord], list[str]]:
    """The file's rows as source records (ids 0..n-1) and each row's own id."""
    encoding = detect_encoding(path)
    with CsvFile(path, encoding) as f:
        header = [h.strip() for h in f.header]
        if id_column not in header:
            raise InvalidInput(f"--id {id_column}: the file has no column {id_column!r}")
        mapped = {k: v for k, v in mapping.items() if k != id_column}
        mapped[id_column] = "-"
        columns = resolve_columns(
            header, canonical_fields("customers"), mapped, kind="customers", refs=True
        )
        id_index = header.index(id_column)
        sources: list[records.SourceRecord] = []
        ids: list[str] = []
        seen: set[str] = set()
        for line, row in f.rows():
            row_id = row[id_index].strip() if id_index < len(row) else ""
            if not row_id or row_id in seen:
                raise InvalidInput(f"{path.name} line {line}: id {row_id!r} is blank or repeated")
            seen.add(row_id)
            values: dict[str, Any] = {}
            refs: list[tuple[str, str]] = []
            for index, field in columns.indexed():
                value = row[index].strip() if index < len(row) else ""
                if not value:
                    continue
                if field.startswith("ref:"):
                    refs.append((field[4:], value))
                elif field in records.SourceRecord.__dataclass_fields__:
                    values[field] = value
            values["status"] = str(values.get("status", "active")).lower()
            sources.append(records.SourceRecord(id=len(ids), refs=tuple(refs), **values))
            ids.append(row_id)
    if len(sources) < 2:
        raise InvalidInput(f"{path.name}: fewer than two rows to compare")
    return sources, ids


def score_file(
    path: Path,
    id_column: str,
    mapping: Mapping[str, str],
    model: Mapping[str, Any] | None = None,
) -> list[FilePair]:
    """Suggested pairs of the file's rows, best first. Without ``model`` (no ledger model
    yet), a model is trained on the file itself."""
    sources, ids = read_sources(path, id_column, mapping)
    columns = records.build(sources)
    used = model if model is not None else engine.train(columns)
    prediction = engine.predict(columns, used, min_weight=tiers.REVIEW_WEIGHT)
    out: list[FilePair] = []
    for scored in prediction.pairs:
        levels = {e.comparison: e.label for e in scored.evidence}
        suggestion = tiers.suggest(scored.match_weight, levels)
        if suggestion.tier is None:
            continue
        left, right = sorted((scored.id_l, scored.id_r))
        out.append(
            FilePair(
                ids[left],
                ids[right],
                round(scored.match_probability, 6),
                suggestion.tier,
                suggestion.classification,
            )
        )
    out.sort(key=lambda p: (-p.match_probability, p.id_l, p.id_r))
    return out


def write_pairs(pairs: Sequence[FilePair], out: Path) -> None:
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for p in pairs:
            writer.writerow(
                [p.id_l, p.id_r, f"{p.match_probability:.6f}", p.tier, p.classification]
            )
