"""Reading import files: the encoding (UTF-8 with or without a BOM, else Windows-1252), the
header and its mapping onto canonical field names, the rows with their line numbers, and the
rejects file written beside the input.

Nothing here touches the database; ``imports`` drives it.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from civic.errors import InvalidInput
from civic.ledger.customers import REF_TYPE

UTF8_BOM = "utf-8-sig"
UTF8 = "utf-8"
CP1252 = "cp1252"
IGNORE = "-"
"""``--map COLUMN=-`` ignores a column."""

_CHUNK = 1 << 20


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` (a BOM), ``utf-8`` or ``cp1252``: UTF-8 is tried first, as the issue asks."""
    with path.open("rb") as f:
        bom = f.read(3) == codecs.BOM_UTF8
        f.seek(3 if bom else 0)
        if _decodes(f, UTF8):
            return UTF8_BOM if bom else UTF8
        f.seek(0)
        if _decodes(f, CP1252):
            return CP1252
    raise InvalidInput(f"{path.name}: neither UTF-8 nor Windows-1252 text", file=str(path))


def _decodes(f: IO[bytes], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True)
class Columns:
    """The file's header and, per column, the canonical field it gives (None: ignored)."""

    header: tuple[str, ...]
    fields: tuple[str | None, ...]

    @property
    def present(self) -> frozenset[str]:
        return frozenset(f for f in self.fields if f is not None)

    def index_of(self, field: str) -> int | None:
        return self.fields.index(field) if field in self.fields else None

    def indexed(self) -> list[tuple[int, str]]:
        return [(i, f) for i, f in enumerate(self.fields) if f is not None]


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """``["Acct No=account_number", "SSR=ref:ssr"]`` as a dict; ``COLUMN=-`` ignores a column."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, field = pair.rpartition("=")
        if not sep or not column.strip() or not field.strip():
            raise InvalidInput(f"--map {pair!r}: expected COLUMN=FIELD (or COLUMN=- to ignore)")
        mapping[column.strip()] = field.strip()
    return mapping


def resolve_columns(
    header: Sequence[str],
    canonical: Sequence[str],
    mapping: Mapping[str, str],
    *,
    kind: str,
    refs: bool = False,
) -> Columns:
    """Map each header column to a canonical field; refuse unknown columns and bad mappings,
    naming the canonical fields so the clerk can write the ``--map``."""
    names = tuple(h.strip() for h in header)
    known = ", ".join(canonical) + (", ref:TYPE" if refs else "")
    lowered = {c.lower(): c for c in canonical}
    for column, target in mapping.items():
        if column not in names:
            raise InvalidInput(
                f"--map {column}={target}: the file has no column {column!r} "
                f"(its columns: {', '.join(repr(n) for n in names)})"
            )
    fields: list[str | None] = []
    for name in names:
        field = _field_of(name, mapping, lowered, kind, known, refs)
        if field is not None and field in fields:
            first = names[fields.index(field)]
            raise InvalidInput(f"columns {first!r} and {name!r} both give {field}")
        fields.append(field)
    return Columns(names, tuple(fields))


def _field_of(
    name: str,
    mapping: Mapping[str, str],
    lowered: Mapping[str, str],
    kind: str,
    known: str,
    refs: bool,
) -> str | None:
    if name in mapping:
        target = mapping[name]
        if target == IGNORE:
            return None
        field = _canonical(target, lowered, refs)
        if field is None:
            raise InvalidInput(
                f"--map {name}={target}: {target!r} is not a {kind} field; "
                f"the canonical names are: {known}"
            )
        return field
    if not name:
        return None  # an unnamed column (a trailing comma in the header)
    field = _canonical(name, lowered, refs)
    if field is None:
        raise InvalidInput(
            f"column {name!r} is not a {kind} field: map it with --map '{name}=FIELD' "
            f"(or '{name}=-' to ignore it); the canonical names are: {known}"
        )
    return field


def _canonical(name: str, lowered: Mapping[str, str], refs: bool) -> str | None:
    if refs and name[:4].lower() == "ref:":
        ref_type = name[4:].strip().lower()
        if not REF_TYPE.match(ref_type):
            raise InvalidInput(f"{name}: not a reference type (a-z, 0-9, _; up to 20)")
        return f"ref:{ref_type}"
    return lowered.get(name.lower())


class CsvFile:
    """An open import file: ``header``, then ``rows()`` as (line number, values), skipping
    blank rows; ``bytes_read`` tells how far it got (for progress)."""

    def __init__(self, path: Path, encoding: str) -> None:
        self.path = path
        self.encoding = encoding
        self.size = path.stat().st_size
        self._raw = path.open("rb")
        self._text = io.TextIOWrapper(self._raw, encoding=encoding, newline="")
        self._reader = csv.reader(self._text)
        try:
            header = next(self._reader, None)
        except csv.Error as exc:
            self.close()
            raise InvalidInput(f"{path.name} line 1: not valid CSV ({exc})") from None
        if header is None or not any(h.strip() for h in header):
            self.close()
            raise InvalidInput(f"{path.name}: no header row (the first line names the columns)")
        self.header = header

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._text.close()

    @property
    def bytes_read(self) -> int:
        return min(self._raw.tell(), self.size)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        reader = self._reader
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InvalidInput(f"{self.path.name} line {line}: not valid CSV ({exc})") from None
            if row and "".join(row).strip():  # skip blank rows (``,,,`` too)
                yield line, row


def repeated_keys(
    path: Path,
    encoding: str,
    index: int,
    normalize: Callable[[str], str | None],
    tick: Callable[[int, int], None] | None = None,
    every: int = 10_000,
) -> dict[str, list[int]]:
    """Keys (normalised values of column ``index``) found on more than one line, with their
    lines. Blank and unparseable values are left to the row checks. ``tick(bytes, rows)`` is
    called every ``every`` rows."""
    first: dict[str, int] = {}
    repeated: dict[str, list[int]] = {}
    rows = 0
    with CsvFile(path, encoding) as f:
        for line, row in f.rows():
            rows += 1
            if tick is not None and rows % every == 0:
                tick(f.bytes_read, rows)
            key = normalize(row[index]) if index < len(row) else None
            if key is None:
                continue
            seen = first.setdefault(key, line)
            if seen != line:
                repeated.setdefault(key, [seen]).append(line)
    return repeated


def rejects_path(path: Path) -> Path:
    """``customers.csv`` -> ``customers.rejects.csv`` beside it."""
    return path.with_name(f"{path.stem}.rejects.csv")


class RejectsFile:
    """The rejected rows, written as they are found: the original columns, then ``line`` and
    ``reason``. Opened on the first reject; a stale file from an earlier run is removed."""

    def __init__(self, path: Path, header: Sequence[str], encoding: str) -> None:
        self.path = path
        self.header = list(header)
        self.encoding = encoding
        self.count = 0
        self._file: IO[str] | None = None
        self._csv: Callable[[Sequence[str]], object] | None = None
        path.unlink(missing_ok=True)

    def add(self, line: int, row: Sequence[str], reason: str) -> None:
        if self._csv is None:
            self._file = self.path.open("w", encoding=self.encoding, newline="", errors="replace")
            self._csv = csv.writer(self._file).writerow
            self._csv([*self.header, "line", "reason"])
        width = len(self.header)
        cells = list(row[:width]) + [""] * (width - len(row))
        self._csv([*cells, str(line), reason, *row[width:]])
        self.count += 1

    def close(self) -> Path | None:
        """Flush the file; its path, or None when no row was rejected."""
        if self._file is not None:
            self._file.close()
            self._file = None
        return self.path if self.count else None
