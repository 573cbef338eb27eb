"""CSV import of real exports: customers, transactions, meter readings and orders.

``import_csv`` reads a file (UTF-8 with or without BOM, else Windows-1252), maps its header onto
canonical field names (``--map COLUMN=FIELD``), checks every row with the ledger's own parsers
and validators, and stores the good rows in batches: each batch is one database transaction
with its outbox and audit rows, so a crash or Ctrl-C leaves the ledger as before that batch.
Every bad row is reported with its line number and reason and written to ``NAME.rejects.csv``
beside the input. With ``strict`` the whole file is checked first and stored in one transaction
only if no row is bad. Importing the same file again adds nothing.

The kinds live in ``imports_customers``, ``imports_transactions`` (with ``imports_voids``) and
``imports_records``; reading and writing files in ``imports_csv``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from civic.db import describe_operational_error, read_only, transaction
from civic.errors import CivicError, InvalidInput, NotFound, Problem
from civic.ledger.accounts import parse_account_number
from civic.ledger.customers import get_community
from civic.ledger.imports_base import Importer, Outcome, Parsers, Scope, refresh_statistics
from civic.ledger.imports_csv import (
    Columns,
    CsvFile,
    RejectsFile,
    detect_encoding,
    parse_mapping,
    rejects_path,
    repeated_keys,
    resolve_columns,
)
from civic.ledger.imports_customers import CUSTOMERS, REFS, CustomerImporter
from civic.ledger.imports_records import (
    IDENTITY_FIELDS,
    ORDERS,
    READINGS,
    OrderImporter,
    ReadingImporter,
)
from civic.ledger.imports_screen import Screening
from civic.ledger.imports_transactions import TRANSACTIONS, TransactionImporter
from civic.ledger.types import CUSTOMER_FIELDS

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "KINDS",
    "ImportFailed",
    "ImportProgress",
    "ImportSummary",
    "Kind",
    "Screening",
    "canonical_fields",
    "import_csv",
    "parse_mapping",
]

DEFAULT_BATCH_SIZE = 10_000
MAX_PROBLEMS = 1_000
"""At most this many rejected rows are kept in the summary; the rejects file has them all."""


@dataclass(frozen=True)
class Kind:
    """One kind of import: its canonical fields, the columns a file must have, and the key
    column that may not repeat within a file."""

    name: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    key: str | None
    tables: tuple[Table, ...]
    """The tables its look-ups read (their statistics are refreshed as they grow)."""
    refs: bool = False


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "customers",
            CUSTOMER_FIELDS,
            ("account_number",),
            "account_number",
            (CUSTOMERS, REFS),
            refs=True,
        ),
        Kind(
            "transactions",
            (
                "account_number",
                "service",
                "kind",
                "amount",
                "date",
                "period",
                "description",
                "reference",
                "external_id",
                "voids",
            ),
            ("account_number", "service", "kind", "amount", "date"),
            "external_id",
            (TRANSACTIONS,),
        ),
        Kind(
            "readings",
            ("account_number", "meter", "reading", "date", "period"),
            ("account_number", "meter", "reading", "date"),
            None,
            (READINGS,),
        ),
        Kind(
            "orders",
            (
                "account_number",
                "order_number",
                "kind",
                "status",
                "start_date",
                "end_date",
                "description",
                *IDENTITY_FIELDS,
            ),
            ("order_number", "start_date"),
            "order_number",
            (ORDERS,),
            refs=True,
        ),
    )
}


def canonical_fields(kind: str) -> tuple[str, ...]:
    """The canonical column names of ``kind`` (customers and orders also take
    ``ref:TYPE``)."""
    return _kind(kind).fields


@dataclass(frozen=True)
class ImportProgress:
    """Where an import is: ``phase`` is scanning, checking or importing."""

    phase: str
    bytes_done: int
    bytes_total: int
    rows: int


@dataclass(frozen=True)
class ImportSummary:
    """What an import did. ``unchanged`` counts rows already in the ledger as given
    (identical customers and orders, transactions and readings imported before)."""

    kind: str
    file: str
    encoding: str
    read: int
    added: int
    updated: int
    unchanged: int
    rejected: int
    stored: bool
    strict: bool
    rejects_file: str | None
    batches: int
    seconds: float
    problems: tuple[Problem, ...] = ()
    screening: str | None = None
    """How rows that would create a customer were matched first (None: they were not)."""
    attached_by_reference: int = 0
    attached_by_score: int = 0
    held: int = 0
    created: int = 0
    """Rows that matched no existing customer and created one (with a screening)."""


class ImportFailed(CivicError):
    """The database refused a batch: nothing of it was stored; earlier batches were."""

    status = 409
    code = "import_failed"

    def __init__(self, message: str, summary: ImportSummary) -> None:
        super().__init__(message, file=summary.file, stored_rows=summary.added + summary.updated)
        self.summary = summary


ProgressCallback = Callable[[ImportProgress], None]


def import_csv(
    engine: Engine,
    kind: str,
    path: Path | str,
    *,
    actor: str,
    community: str | None = None,
    mapping: Mapping[str, str] | None = None,
    strict: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    screening: Screening | None = None,
) -> ImportSummary:
    """Import ``path`` as ``kind`` (customers, transactions, readings or orders).

    ``mapping`` maps file columns to canonical fields (``"-"`` ignores a column). Each batch of
    ``batch_size`` rows is one transaction; ``progress`` is called inside it just before the
    commit, so raising from it (e.g. ``KeyboardInterrupt``) rolls that batch back. Header
    problems raise ``InvalidInput``; a batch the database refuses raises ``ImportFailed``.

    ``screening`` (customers and orders; see ``imports_screen``) matches each row that would
    create a customer against the existing ones first: it is attached to a matching customer,
    held for review, or creates the customer only when nothing matches.
    """
    spec = _kind(kind)
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"no file {path}", file=str(path))
    if batch_size < 1:
        raise InvalidInput("batch size must be 1 or more")
    encoding = detect_encoding(path)
    with CsvFile(path, encoding) as f:
        header = f.header
    columns = resolve_columns(header, spec.fields, mapping or {}, kind=spec.name, refs=spec.refs)
    missing = [name for name in spec.required if name not in columns.present]
    if missing:
        raise InvalidInput(
            f"{path.name}: no {', '.join(missing)} column (required for {spec.name}); "
            f"its columns: {', '.join(repr(h) for h in columns.header)}"
        )
    with read_only(engine) as session:
        found = get_community(session, community)
        scope = Scope(found.id, found.code, found.period_months, actor, path.name)
    if spec.name not in ("customers", "orders"):
        screening = None
    run = _Run(engine, spec, path, encoding, columns, scope, batch_size, progress, screening)
    return run.execute(strict)


def _kind(kind: str) -> Kind:
    found = KINDS.get(kind)
    if found is None:
        raise InvalidInput(f"cannot import {kind!r}: choose one of {', '.join(KINDS)}")
    return found


def _key_normalizer(name: str) -> Callable[[str], str | None]:
    if name == "account_number":

        def account(text: str) -> str | None:
            try:
                return str(parse_account_number(text)) if text.strip() else None
            except InvalidInput:
                return None

        return account
    return lambda text: text.strip() or None


@contextmanager
def _young_collections_only() -> Iterator[None]:
    """Collect only the young generations (once per batch) while importing.

    Each batch leaves tens of thousands of objects alive for a while, so Python would run a
    full collection about once per batch, walking every object in the process (SQLAlchemy's
    included): a sixth of a large import's time. The import makes no long-lived garbage, so the
    full collections wait until it is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class _Batch:
    read: int = 0
    records: list[Any] = field(default_factory=list)
    raw: dict[int, list[str]] = field(default_factory=dict)
    rejects: list[tuple[int, list[str], str]] = field(default_factory=list)

    @property
    def lines(self) -> tuple[int, int]:
        lines = list(self.raw) + [line for line, _r, _m in self.rejects]
        return min(lines), max(lines)


@dataclass
class _Totals:
    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    batches: int = 0
    attached_by_reference: int = 0
    attached_by_score: int = 0
    held: int = 0
    created: int = 0

    def add(self, batch: _Batch, outcome: Outcome) -> None:
        self.read += batch.read
        self.added += outcome.added
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.rejected += len(batch.rejects) + len(outcome.rejects)
        self.batches += 1
        self.attached_by_reference += outcome.attached_by_reference
        self.attached_by_score += outcome.attached_by_score
        self.held += outcome.held
        self.created += outcome.created


class _Run:
    """One import: scan for repeated keys, then check and store batch by batch."""

    def __init__(
        self,
        engine: Engine,
        spec: Kind,
        path: Path,
        encoding: str,
        columns: Columns,
        scope: Scope,
        batch_size: int,
        progress: ProgressCallback | None,
        screening: Screening | None = None,
    ) -> None:
        self.screening = screening
        self.engine = engine
        self.spec = spec
        self.path = path
        self.encoding = encoding
        self.columns = columns
        self.scope = scope
        self.batch_size = batch_size
        self.progress = progress
        self.started = time.monotonic()
        self.totals = _Totals()
        self.problems: list[Problem] = []
        self.repeated: dict[str, list[int]] = {}
        self.rejects = RejectsFile(rejects_path(path), columns.header, encoding)
        self._file: CsvFile | None = None
        self._analyzed_at = 0

    def execute(self, strict: bool) -> ImportSummary:
        try:
            with _young_collections_only():
                self._scan()
                stored = self._strict() if strict else self._batched()
        finally:
            self.rejects.close()
        return self.summary(stored=stored, strict=strict)

    def summary(self, *, stored: bool, strict: bool) -> ImportSummary:
        t = self.totals
        return ImportSummary(
            kind=self.spec.name,
            file=str(self.path),
            encoding=self.encoding,
            read=t.read,
            added=t.added if stored else 0,
            updated=t.updated if stored else 0,
            unchanged=t.unchanged if stored else 0,
            rejected=t.rejected,
            stored=stored,
            strict=strict,
            rejects_file=str(self.rejects.path) if self.rejects.count else None,
            batches=t.batches,
            seconds=round(time.monotonic() - self.started, 3),
            problems=tuple(self.problems),
            screening=self.screening.mode if self.screening is not None else None,
            attached_by_reference=t.attached_by_reference if stored else 0,
            attached_by_score=t.attached_by_score if stored else 0,
            held=t.held if stored else 0,
            created=t.created if stored else 0,
        )

    def _importer(self, session: Session) -> Importer:
        name = self.spec.name
        if name == "customers":
            return CustomerImporter(self.scope, self.columns, self.screening)
        parsers = Parsers()
        if name == "transactions":
            return TransactionImporter(session, self.scope, parsers)
        if name == "readings":
            return ReadingImporter(session, self.scope, parsers)
        return OrderImporter(session, self.scope, parsers, self.columns, self.screening)

    # -- the passes ---------------------------------------------------------------------------

    def _scan(self) -> None:
        """Find key values (account numbers, order numbers, external ids) on several lines."""
        key = self.spec.key
        index = self.columns.index_of(key) if key else None
        if key is None or index is None:
            return
        size = self.path.stat().st_size

        def tick(done: int, rows: int) -> None:
            if self.progress:
                self.progress(ImportProgress("scanning", done, size, rows))

        self.repeated = repeated_keys(
            self.path, self.encoding, index, _key_normalizer(key), tick, self.batch_size
        )

    def _batched(self) -> bool:
        """One transaction per batch; a failing batch stops the import, earlier ones stay."""
        with read_only(self.engine) as session:
            importer = self._importer(session)
        for batch in self._batches(importer):
            try:
                with transaction(self.engine) as session:
                    outcome = importer.apply(session, batch.records, store=True)
                    self._grown(session, outcome)
                    self._tick("importing", batch)
            except (CivicError, SQLAlchemyError) as exc:
                raise self._failed(batch, exc, strict=False) from exc
            self._record(batch, outcome)
        return True

    def _strict(self) -> bool:
        """Check every row first (reading only); store all in one transaction if none is bad."""
        with read_only(self.engine) as session:
            importer = self._importer(session)
            for batch in self._batches(importer):
                outcome = importer.apply(session, batch.records, store=False)
                self._tick("checking", batch)
                self._record(batch, outcome)
        if self.totals.rejected:
            return False
        checked, self.totals = self.totals, _Totals()
        batch = _Batch()
        try:
            with transaction(self.engine) as session:
                importer = self._importer(session)
                for batch in self._batches(importer):
                    outcome = importer.apply(session, batch.records, store=True)
                    if batch.rejects or outcome.rejects:
                        raise self._changed(batch, outcome)
                    self._grown(session, outcome)
                    self._tick("importing", batch)
                    self.totals.add(batch, outcome)
        except (CivicError, SQLAlchemyError) as exc:
            self.totals = _Totals(read=checked.read)
            if isinstance(exc, ImportFailed):
                raise
            raise self._failed(batch, exc, strict=True) from exc
        return True

    # -- rows and batches ---------------------------------------------------------------------

    def _batches(self, importer: Importer) -> Iterator[_Batch]:
        indexed = self.columns.indexed()
        width = len(self.columns.header)
        batch = _Batch()
        with CsvFile(self.path, self.encoding) as f:
            self._file = f
            for line, row in f.rows():
                batch.read += 1
                reason = self._row_problem(row, width)
                if reason is None:
                    n = len(row)
                    values = {name: (row[i] if i < n else "") for i, name in indexed}
                    try:
                        batch.records.append(importer.check(values, line))
                        batch.raw[line] = row
                    except InvalidInput as exc:
                        reason = exc.message
                if reason is not None:
                    batch.rejects.append((line, row, reason))
                if batch.read >= self.batch_size:
                    yield batch
                    batch = _Batch()
                    gc.collect(1)
            if batch.read:
                yield batch

    def _row_problem(self, row: list[str], width: int) -> str | None:
        if len(row) > width and any(v.strip() for v in row[width:]):
            return f"{len(row)} values, but the header has {width} columns"
        if not self.repeated or self.spec.key is None:
            return None
        index = self.columns.index_of(self.spec.key)
        assert index is not None
        key = _key_normalizer(self.spec.key)(row[index]) if index < len(row) else None
        lines = self.repeated.get(key) if key is not None else None
        if lines is None:
            return None
        shown = ", ".join(str(n) for n in lines[:5]) + (", ..." if len(lines) > 5 else "")
        return f"{self.spec.key}: {key} is on several lines ({shown}); it may appear only once"

    def _record(self, batch: _Batch, outcome: Outcome) -> None:
        """Count a finished batch and write its rejected rows, in line order."""
        rejects = batch.rejects + [(n, batch.raw[n], why) for n, why in outcome.rejects]
        for line, row, reason in sorted(rejects, key=lambda r: r[0]):
            self.rejects.add(line, row, reason)
            if len(self.problems) < MAX_PROBLEMS:
                source = f"{self.path.name}:{line}"
                self.problems.append(Problem(source, reason, {"line": line}))
        self.totals.add(batch, outcome)

    def _grown(self, session: Session, outcome: Outcome) -> None:
        """Refresh the statistics of the tables looked up each time the rows stored by this
        import double (a handful of times even for a million rows)."""
        stored = self.totals.added + self.totals.updated + outcome.added + outcome.updated
        if stored >= max(self.batch_size, 2 * self._analyzed_at):
            refresh_statistics(session, self.spec.tables)
            self._analyzed_at = stored

    def _tick(self, phase: str, batch: _Batch) -> None:
        """Report progress, counting ``batch`` (not yet committed) as read."""
        if self.progress and self._file is not None:
            f = self._file
            rows = self.totals.read + batch.read
            self.progress(ImportProgress(phase, f.bytes_read, f.size, rows))

    def _failed(self, batch: _Batch, exc: Exception, *, strict: bool) -> ImportFailed:
        if isinstance(exc, CivicError):
            reason = exc.message
        elif isinstance(exc, OperationalError):
            reason = describe_operational_error(exc)
        else:
            orig = getattr(exc, "orig", None) or exc
            reason = str(orig).strip().splitlines()[0] if str(orig).strip() else repr(exc)
        first, last = batch.lines if batch.read and (batch.raw or batch.rejects) else (0, 0)
        stored = self.totals.added + self.totals.updated
        after = (
            "nothing was stored (--strict)"
            if strict
            else f"nothing of lines {first}-{last} was stored; the {stored} rows stored before "
            "stay (importing the file again skips them)"
        )
        summary = self.summary(stored=not strict, strict=strict)
        return ImportFailed(f"{self.path.name}: {reason}: {after}", summary)

    def _changed(self, batch: _Batch, outcome: Outcome) -> ImportFailed:
        found = [(n, why) for n, _r, why in batch.rejects] + outcome.rejects
        line, reason = min(found)
        message = (
            f"{self.path.name} line {line}: {reason} (the ledger changed while importing); "
            "nothing was stored (--strict)"
        )
        return ImportFailed(message, self.summary(stored=False, strict=True))
