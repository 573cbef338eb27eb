"""Prevention at import (seed 003): before an imported row creates a customer, match it
against the existing customers of its community.

``ImportScreening`` is the ``civic.ledger.imports_screen.Screening`` hook the CLI hands to
``import_csv``. For each batch of rows that would create customers:

1. a row held or attached by an earlier import of the same row follows that (``row_key``);
2. an equal normalised identity reference (same type; not a parcel or meter number) attaches
   the row to that customer (an active one first);
3. the rest are scored as ONE Splink link job (``engine.link``) against the existing customers
   they could match: candidates are found by cheap keys kept in DuckDB for the whole import
   (last + first name + ZIP, house number + ZIP + last initial / last name / first name /
   street word, phone, e-mail, business name, half of a reference's digits, swapped names;
   a key shared by more than ``COMMON_KEY`` customers is skipped), then normalised and scored
   with the saved model and its blocking rules. The merge tier attaches, the review tier holds,
   anything less creates the customer.

Without a saved model (a new ledger) only step 1 and 2 run, and ``mode`` says so.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from civic.db import read_only
from civic.ledger.customers import now
from civic.ledger.imports_base import Scope, audit_rows, chunked, table_of
from civic.ledger.imports_screen import Incoming, Verdict
from civic.ledger.tables import Community, Customer, CustomerRef
from civic.matching import engine as model_engine
from civic.matching import records, tiers
from civic.matching.service import _evidence, _levels, latest_model
from civic.matching.tables import ImportHold

HOLDS = table_of(ImportHold)
CUSTOMERS = table_of(Customer)
REFS = table_of(CustomerRef)
PARTICIPATING = ("active", "inactive")
_STATUS_RANK = {"active": 0, "inactive": 1, "closed": 2}
COMMON_KEY = 10
"""A key shared by more customers than this (``James|Smith|97471`` in a large town, an
apartment block's street address) finds no candidates on its own: a pair that shares only such
a common value scores far below the review tier, and the other keys still find real
duplicates."""

RELATED_KEYS = ("lf", "hn", "hf", "p", "e", "b")
"""The candidate keys that make two rows of one batch worth scoring against each other
(``ImportScreening.related``): not a shared street or house and ZIP alone, which neighbours in
one building share."""

_NOISE = r"\b(THE|INC|LLC|LTD|CO|CORP|CORPORATION|COMPANY)\b"
_DIRECTION = (
    r"(?:(?:N|S|E|W|NE|NW|SE|SW|NORTH|SOUTH|EAST|WEST"
    r"|NORTHEAST|NORTHWEST|SOUTHEAST|SOUTHWEST)\.?\s+)?"
)
_EMPTY = "''"
_K_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("lastk", "last_name", "regexp_replace(upper(strip_accents({v})), '[^A-Z0-9]', '', 'g')"),
    ("firstk", "first_name", "regexp_replace(upper(strip_accents({v})), '[^A-Z0-9]', '', 'g')"),
    ("house", "service_address", "regexp_extract(upper({v}), '^\\s*([0-9]+)', 1)"),
    (
        "street",
        "service_address",
        f"regexp_extract(upper({{v}}), '^\\s*[0-9]+[A-Z]?\\s+{_DIRECTION}([A-Z0-9]+)', 1)",
    ),
    ("phonek", "phone", "right(regexp_replace({v}, '[^0-9]', '', 'g'), 7)"),
    ("emailk", "email", "lower(trim({v}))"),
    ("zip5", "zip", "left(regexp_replace({v}, '[^0-9]', '', 'g'), 5)"),
    (
        "bizk",
        "business_name",
        "regexp_replace(regexp_replace(replace(upper({v}), '&', ' AND '), "
        f"'{_NOISE}', ' ', 'g'), '[^A-Z0-9]', '', 'g')",
    ),
    (
        "biz_words",
        "business_name",
        "lower(trim(regexp_replace(regexp_replace(replace(upper(strip_accents({v})), '&', "
        f"' AND '), '{_NOISE}', ' ', 'g'), '[^A-Z0-9]+', ' ', 'g')))",
    ),
)
"""Cheap forms of the compared fields, the same for existing and incoming rows: (name, the
column it is computed from, the expression of that column's value ``{v}``, never NULL)."""
_K_SQL = (
    "SELECT id, "
    + ", ".join(
        f"{expr.format(v=f'coalesce({column}, {_EMPTY})')} AS {name}"
        for name, column, expr in _K_FIELDS
    )
    + " FROM {source}"
)

_KEYS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("lf", ("lastk", "firstk", "zip5"), "lastk <> '' AND firstk <> '' AND length(zip5) = 5"),
    (
        "hz",
        ("house", "zip5", "left(lastk, 1)"),
        "house <> '' AND lastk <> '' AND length(zip5) = 5",
    ),
    ("hn", ("house", "lastk"), "house <> '' AND lastk <> ''"),
    ("hf", ("house", "firstk"), "house <> '' AND firstk <> ''"),
    ("hs", ("house", "street"), "house <> '' AND street <> ''"),
    ("p", ("phonek",), "length(phonek) = 7"),
    ("e", ("emailk",), "emailk LIKE '%@%'"),
    ("b", ("bizk",), "bizk <> ''"),
    ("nm", ("lastk", "firstk"), "lastk <> '' AND firstk <> ''"),
)
"""The candidate keys of a row of ``_K_SQL``: (kind, the forms it is made of, when the row has
one). None of the forms can hold ``|`` but the e-mail, which is a key of its own, so a key is
equal exactly when its forms are. ``nm``: existing customers are keyed by last and first name,
an incoming row by its first and last name swapped (the blocking rule for names written in the
wrong fields)."""


def _keys_sql(k: str, *, swapped: bool = False, hashed: bool = True) -> str:
    """The candidate keys of the rows in table ``k`` (``_K_SQL``): ``(id, h)``, ``h`` DuckDB's
    hash of the kind and the forms (what is stored and joined), or with ``hashed`` False
    ``(id, kind, key)``, the forms written out (to compare rows of one batch)."""
    selects = []
    for kind, parts, where in _KEYS:
        if swapped and kind == "nm":
            parts = tuple(reversed(parts))
        if hashed:
            value = f"hash('{kind}', {', '.join(parts)})"
        else:
            value = f"'{kind}' AS kind, " + " || '|' || ".join(parts)
        selects.append(f"SELECT id, {value} AS {'h' if hashed else 'key'} FROM {k} WHERE {where}")
    return "\nUNION ALL ".join(selects)


_NAMES_SQL = "SELECT id, lower(firstk), lower(lastk), biz_words FROM {k}"
_SEP = "\x1f"
_REF_KEYS_SQL = """
WITH d AS (SELECT id, ref_type, regexp_replace(normalized, '[^0-9]', '', 'g') AS digits
           FROM {source})
SELECT id, hash('rl', ref_type, left(digits, len(digits) // 2)) AS h FROM d
    WHERE len(digits) >= 6 AND ref_type IS NOT NULL
UNION ALL SELECT id, hash('rr', ref_type, right(digits, len(digits) - len(digits) // 2)) FROM d
    WHERE len(digits) >= 6 AND ref_type IS NOT NULL
"""
"""The keys of identity references (``id``, ``ref_type``, ``normalized`` in ``source``): each
half of the reference's digits, so a reference with a digit or two wrong still finds its
customer."""
_KEY_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "business_name",
    "service_address",
    "zip",
    "phone",
    "email",
)


CACHE_FORMAT = f"civic-match-keys/4 duckdb {duckdb.__version__}"
"""The keys are stored as DuckDB's 64-bit hash of kind and forms (a collision only adds a
candidate, which the model then scores): a new DuckDB may hash differently, so its version is
part of the format."""
_BY_ID = 5_000
"""Customers to key beyond this many are read in one query rather than by id."""


_BY_VALUE = ("last_name", "first_name", "zip", "business_name")
"""Columns whose values repeat heavily (a town's last and first names, ZIP codes, business
names): when customers are keyed, their forms are computed once per distinct value."""
_K_NAMES = tuple(name for name, _column, _expr in _K_FIELDS)
_RAW = ("id", "version", *_KEY_COLUMNS[1:])
"""The columns read to key a customer: its id, version and the key columns."""


def _unpack(strings: Any) -> tuple[pa.Table, list[int]]:
    """The packed rows (``_RAW`` joined by ``_SEP``) as a table of those columns, and the ids
    of the rows that do not unpack (a value holding the separator itself)."""
    lists = pc.split_pattern(strings, _SEP)
    fits = pc.equal(pc.list_value_length(lists), len(_RAW))
    broken: list[int] = []
    if not pc.all(fits).as_py():
        misfits = strings.filter(pc.invert(fits)).to_pylist()
        broken = [int(str(x).split(_SEP, 1)[0]) for x in misfits]
        lists = lists.filter(fits)
    columns = {name: pc.list_element(lists, i) for i, name in enumerate(_RAW)}
    columns["id"] = columns["id"].cast(pa.int64())
    columns["version"] = columns["version"].cast(pa.int32())
    return pa.table(columns), broken


def _plain(session: Session, ids: Sequence[int]) -> pa.Table:
    """Customers ``ids`` read column by column (``_RAW``; NULL as empty text)."""
    query = text(
        "SELECT id, version, "
        + ", ".join(f"coalesce({c}, '')" for c in _KEY_COLUMNS[1:])
        + " FROM customers WHERE id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    rows = [
        tuple(r)
        for chunk in chunked(list(ids))
        for r in session.execute(query, {"ids": list(chunk)})
    ]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_RAW)
    return pa.table(
        {
            name: pa.array(
                values,
                type=pa.int64()
                if name == "id"
                else pa.int32()
                if name == "version"
                else pa.string(),
            )
            for name, values in zip(_RAW, columns, strict=True)
        }
    )


_PARTICIPATING = (
    "community_id = :community AND status IN ('active', 'inactive') AND merged_into_id IS NULL"
)
_SPAN = 250_000
"""Customer ids read in one aggregated value per column (``_aggregated``): some megabytes, far
below SQLite's limit on the length of a value."""


def _aggregated(session: Session, community_id: int, above: int) -> pa.Table | None:
    """The participating customers of the community with an id above ``above`` (``_RAW``,
    NULL as empty text), read from SQLite as one value per column per ``_SPAN`` ids (one
    ``group_concat`` of each column in one scan, so they list the rows in the same order): a
    million rows cost the driver and Python a few calls instead of a million, and the time
    goes in SQLite, which does not hold Python's interpreter lock (so it runs beside the
    import, see ``ImportScreening.prefetch``). None when a value holds the separator (the
    rows are then read one by one)."""
    top = int(session.execute(text("SELECT coalesce(max(id), 0) FROM customers")).scalar_one())
    values = ", ".join(
        f"CAST(group_concat({c if i < 2 else f'coalesce({c}, {_EMPTY})'}, :sep) AS BLOB)"
        for i, c in enumerate(_RAW)
    )
    query = text(
        f"SELECT count(*), {values} FROM customers "
        f"WHERE {_PARTICIPATING} AND id > :lo AND id <= :hi"
    )
    pieces = []
    for lo in range(above, top, _SPAN):
        params = {"sep": _SEP, "community": community_id, "lo": lo}
        found = session.execute(query, {**params, "hi": lo + _SPAN}).one()
        count = int(found[0])
        if not count:
            continue
        columns = {}
        for name, value in zip(_RAW, found[1:], strict=True):
            split = pc.split_pattern(pa.array([value], type=pa.binary()), _SEP.encode())
            column = split.flatten().cast(pa.string())
            if len(column) != count:
                return None
            if name in ("id", "version"):
                column = column.cast(pa.int64() if name == "id" else pa.int32())
            columns[name] = column
        pieces.append(pa.table(columns))
    if not pieces:
        return None
    return pa.concat_tables(pieces)


def _column(session: Session, query: Any, params: Mapping[str, Any]) -> list[Any]:
    """The one column of ``query``'s rows, taken from the database driver's cursor directly:
    SQLAlchemy's processing of a million rows costs more than reading them."""
    result = session.connection().execute(query, params)
    try:
        return [row[0] for row in result.cursor.fetchall()]
    finally:
        result.close()


def _connect(path: Path | None) -> duckdb.DuckDBPyConnection:
    """The key store: the cache file at ``path`` (recreated when its format is not this
    one's), or memory when there is none or it cannot be opened (another import holds it)."""
    if path is not None:
        try:
            con = duckdb.connect(str(path))
        except duckdb.Error:
            con = None
        if con is not None:
            con.execute("CREATE TABLE IF NOT EXISTS meta (format VARCHAR)")
            found = con.execute("SELECT format FROM meta").fetchall()
            if found != [(CACHE_FORMAT,)]:
                for table in ("pool", "names", "seen", "refpool", "refs_seen", "ledger", "meta"):
                    con.execute(f"DROP TABLE IF EXISTS {table}")
                con.execute("CREATE TABLE meta (format VARCHAR)")
                con.execute("INSERT INTO meta VALUES (?)", [CACHE_FORMAT])
            return con
    return duckdb.connect(":memory:")


def cache_path(base: Path, community_id: int) -> Path:
    """Where the candidate keys of a SQLite ledger's community are kept between imports:
    beside the ledger file (``ledger.db.match-keys-c1.duckdb``)."""
    return base.with_name(f"{base.name}.match-keys-c{community_id}.duckdb")


def row_key(community_id: int, raw: Mapping[str, str]) -> str:
    """A digest of a row as read: the same row imported again has the same key."""
    text = json.dumps([community_id, sorted((k, v.strip()) for k, v in raw.items())])
    return hashlib.sha256(text.encode()).hexdigest()


def _identity(refs: Iterable[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(t, n) for t, _v, n in refs if t not in records.LOCATION_REF_TYPES and n]


class _Pool:
    """Candidate keys of one community's existing customers, in DuckDB: in memory, or kept in
    a cache file between imports (``path``). Each ``refresh`` compares every participating
    customer's id and version with what the keys were computed from, and re-keys only the
    customers that are new or changed (and drops those that left); when the count and version
    sum of the customers keyed before are unchanged (the usual case) only newer customers are
    read. References change without a version bump: they are keyed again whenever their number
    or highest id changed."""

    def __init__(self, community_id: int, path: Path | None = None) -> None:
        self.community_id = community_id
        self.con = _connect(path)
        for ddl in (
            "CREATE TABLE IF NOT EXISTS pool (id BIGINT, h UBIGINT)",
            "CREATE TABLE IF NOT EXISTS names "
            "(id BIGINT, first_name VARCHAR, last_name VARCHAR, business_name VARCHAR)",
            "CREATE TABLE IF NOT EXISTS seen (id BIGINT, version INTEGER)",
            "CREATE TABLE IF NOT EXISTS refpool (id BIGINT, h UBIGINT)",
            "CREATE TABLE IF NOT EXISTS refs_seen (refs BIGINT, top BIGINT)",
        ):
            self.con.execute(ddl)

    def _check_ledger(self, session: Session) -> None:
        """Forget every key when the ledger is not the one they were computed from (a ledger
        file made again at the same path, by ``civic demo --force`` say): the first customer
        of the community, with the microsecond it was created, identifies it."""
        first = session.execute(
            text(
                "SELECT id, created_at FROM customers WHERE id = "
                "(SELECT min(id) FROM customers WHERE community_id = :community)"
            ),
            {"community": self.community_id},
        ).first()
        stamp = f"{first[0]} {first[1]}" if first else ""
        self.con.execute("CREATE TABLE IF NOT EXISTS ledger (stamp VARCHAR)")
        if self.con.execute("SELECT stamp FROM ledger").fetchall() == [(stamp,)]:
            return
        for table in ("pool", "names", "seen", "refpool", "refs_seen", "ledger"):
            self.con.execute(f"DELETE FROM {table}")
        self.con.execute("INSERT INTO ledger VALUES (?)", [stamp])

    def keyed(self) -> int:
        """How many customers the keys were computed for."""
        return int(self.con.execute("SELECT count(*) FROM seen").fetchall()[0][0])

    def refresh(self, session: Session) -> None:
        """Bring the keys up to date with the ledger as ``session`` sees it, in one DuckDB
        transaction: a refresh that fails (or is interrupted) leaves the keys as they were."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._refresh(session)
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def _refresh(self, session: Session) -> None:
        self._check_ledger(session)
        participating = (
            "FROM customers WHERE community_id = :community "
            "AND status IN ('active', 'inactive') AND merged_into_id IS NULL"
        )
        known = self.con.execute(
            "SELECT count(*), coalesce(max(id), 0), coalesce(sum(version), 0) FROM seen"
        ).fetchall()[0]
        params = {"community": self.community_id, "top": int(known[1])}
        same = session.execute(
            text(f"SELECT count(*), coalesce(sum(version), 0) {participating} AND id <= :top"),
            params,
        ).one()
        if (int(same[0]), int(same[1])) == (int(known[0]), int(known[2])):
            # nothing keyed before has changed (the usual case): key the newer customers only
            # nothing keyed yet (a first import): every customer, without counting them first
            newer = (
                _BY_ID + 1
                if int(known[0]) == 0
                else session.execute(
                    text(f"SELECT count(*) {participating} AND id > :top"), params
                ).scalar_one()
            )
            if newer > _BY_ID:
                # many (a first import): one query for all of them, not look-ups by id
                self._key(session, None, above=int(known[1]))
            elif newer:
                found = session.execute(text(f"SELECT id {participating} AND id > :top"), params)
                self._key(session, [int(i) for i in found.scalars()], above=None)
            self._refs(session)
            return
        current = session.execute(text(f"SELECT id, version {participating}"), params).all()
        ids, versions = (list(x) for x in zip(*current, strict=True)) if current else ([], [])
        self.con.register(
            "current",
            pa.table(
                {
                    "id": pa.array(ids, type=pa.int64()),
                    "version": pa.array(versions, type=pa.int32()),
                }
            ),
        )
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE stale AS "
            "SELECT c.id FROM current c LEFT JOIN seen s USING (id) "
            "WHERE s.version IS DISTINCT FROM c.version "
            "UNION ALL SELECT s.id FROM seen s ANTI JOIN current c USING (id)"
        )
        changed = [
            int(r[0])
            for r in self.con.execute(
                "SELECT c.id FROM current c SEMI JOIN stale USING (id)"
            ).fetchall()
        ]
        self.con.unregister("current")
        for table in ("pool", "names", "seen"):
            self.con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM stale)")
        if changed:
            self._key(session, changed, above=0 if len(changed) > len(current) // 4 else None)
        self._refs(session)

    def _key(self, session: Session, ids: list[int] | None, *, above: int | None) -> None:
        """Compute and store the keys of customers ``ids`` and the version they were computed
        from: read by id, or, with ``above``, in one query of every participating customer
        with a higher id (those not in ``ids`` are dropped; ``ids`` None: none)."""
        # SQLite hands many rows over as one value per column (``_aggregated``); otherwise
        # one packed string per customer, a tenth of the Python objects of a row of columns
        # (from SQLite as the bytes it stores, asked for a BLOB: no Python string of each)
        packed = " || :sep || ".join(f"coalesce({c}, '')" for c in _KEY_COLUMNS[1:])
        packed = (
            f"CAST(id AS VARCHAR(20)) || :sep || CAST(version AS VARCHAR(20)) || :sep || {packed}"
        )
        blob = session.connection().dialect.name == "sqlite"
        raw = None
        if blob and above is not None:
            raw = _aggregated(session, self.community_id, above)
        if raw is None:
            if blob:
                packed = f"CAST({packed} AS BLOB)"
            rows: list[Any] = []
            base = f"SELECT {packed} FROM customers "
            if above is not None:
                query = text(base + "WHERE " + _PARTICIPATING + " AND id > :top")
                params = {"sep": _SEP, "community": self.community_id, "top": above}
                rows = _column(session, query, params)
            else:
                assert ids is not None
                query = text(base + "WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
                for chunk in chunked(ids):
                    rows.extend(_column(session, query, {"sep": _SEP, "ids": list(chunk)}))
            strings = (
                pa.array(rows, type=pa.binary()).cast(pa.string())
                if blob
                else pa.array(rows, type=pa.string())
            )
            del rows
            raw, broken = _unpack(strings)
            if broken:  # a value holding the separator: read those customers column by column
                raw = pa.concat_tables([raw, _plain(session, broken)])
        if ids is not None:
            raw = raw.filter(pc.is_in(raw["id"], value_set=pa.array(ids, type=pa.int64())))
        self._store(raw)

    def _store(self, raw: pa.Table) -> None:
        """Key these customers (``_RAW``: id, version and the key columns) and remember the
        version the keys were computed from. The forms of the columns whose values repeat
        (``_BY_VALUE``) are computed once per distinct value; every form is the one
        ``_K_SQL`` gives (the same expression)."""
        forms: dict[str, Any] = {"id": raw["id"]}
        self.con.register("fresh", raw)
        try:
            for column in _BY_VALUE:
                encoded = pc.dictionary_encode(pc.fill_null(raw[column], "")).combine_chunks()
                self.con.register("distinct_values", pa.table({"v": encoded.dictionary}))
                try:
                    found = self.con.sql(
                        "SELECT "
                        + ", ".join(
                            f"{expr.format(v='v')} AS {name}"
                            for name, of, expr in _K_FIELDS
                            if of == column
                        )
                        + " FROM distinct_values"
                    ).to_arrow_table()
                finally:
                    self.con.unregister("distinct_values")
                for name in found.column_names:
                    forms[name] = found[name].take(encoded.indices)
            found = self.con.sql(
                "SELECT "
                + ", ".join(
                    f"{expr.format(v=f'coalesce({of}, {_EMPTY})')} AS {name}"
                    for name, of, expr in _K_FIELDS
                    if of not in _BY_VALUE
                )
                + " FROM fresh"
            ).to_arrow_table()
            for name in found.column_names:
                forms[name] = found[name]
            self.con.execute("INSERT INTO seen SELECT id, version FROM fresh")
        finally:
            self.con.unregister("fresh")
        self.con.register("fresh_k", pa.table({n: forms[n] for n in ("id", *_K_NAMES)}))
        try:
            self.con.execute("INSERT INTO pool " + _keys_sql("fresh_k"))
            self.con.execute("INSERT INTO names " + _NAMES_SQL.format(k="fresh_k"))
        finally:
            self.con.unregister("fresh_k")

    def _refs(self, session: Session) -> None:
        """Key the identity references again when any reference was added or removed (their
        number or highest id changed)."""
        r, c = REFS.c, CUSTOMERS.c
        stamp = session.execute(select(func.count(), func.coalesce(func.max(r.id), 0))).one()
        known = self.con.execute("SELECT refs, top FROM refs_seen").fetchall()
        if known == [(int(stamp[0]), int(stamp[1]))]:
            return
        ref_query = (
            select(r.customer_id, r.ref_type, r.normalized)
            .join(CUSTOMERS, c.id == r.customer_id)
            .where(
                c.community_id == self.community_id,
                c.status.in_(PARTICIPATING),
                c.merged_into_id.is_(None),
                r.ref_type.not_in(sorted(records.LOCATION_REF_TYPES)),
            )
        )
        result = session.connection().execute(ref_query)
        try:
            refs = result.cursor.fetchall()  # the driver's rows, as in ``_column``
        finally:
            result.close()
        self.con.execute("DELETE FROM refpool")
        if refs:
            ids, types, values = zip(*refs, strict=True)
            table = pa.table(
                {
                    "id": pa.array(ids, type=pa.int64()),
                    "ref_type": pa.array(types, type=pa.string()),
                    "normalized": pa.array(values, type=pa.string()),
                }
            )
            self.con.register("fresh_refs", table)
            self.con.execute("INSERT INTO refpool " + _REF_KEYS_SQL.format(source="fresh_refs"))
            self.con.unregister("fresh_refs")
        self.con.execute("DELETE FROM refs_seen")
        self.con.execute("INSERT INTO refs_seen VALUES (?, ?)", [int(stamp[0]), int(stamp[1])])

    def candidates(self, rows: Sequence[tuple[int, Incoming]]) -> list[int]:
        """Existing customer ids sharing a key with any of these (id, row)."""
        table = pa.table(
            {
                "id": pa.array([i for i, _ in rows], type=pa.int64()),
                **{
                    name: pa.array([row.values.get(name) for _, row in rows], type=pa.string())
                    for name in _KEY_COLUMNS[1:]
                },
            }
        )
        refs = [(i, t, n) for i, row in rows for t, n in _identity(row.refs)]
        ref_table = pa.table(
            {
                "id": pa.array([x[0] for x in refs], type=pa.int64()),
                "ref_type": pa.array([x[1] for x in refs], type=pa.string()),
                "normalized": pa.array([x[2] for x in refs], type=pa.string()),
            }
        )
        self.con.register("incoming", table)
        self.con.register("incoming_refs", ref_table)
        try:
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE incoming_k AS " + _K_SQL.format(source="incoming")
            )
            found = self.con.execute(
                "WITH keys AS (SELECT * FROM ("
                + _keys_sql("incoming_k", swapped=True)
                + ") UNION ALL SELECT * FROM ("
                + _REF_KEYS_SQL.format(source="incoming_refs")
                + ")), wanted AS (SELECT DISTINCT h FROM keys), "
                "everyone AS (SELECT * FROM pool UNION ALL SELECT * FROM refpool), "
                # one pass over the keys: every customer holding a wanted key is a hit, so a
                # key's hits are all its holders
                "hits AS MATERIALIZED (SELECT p.id, h FROM everyone p JOIN wanted USING (h)), "
                "usable AS (SELECT h FROM hits GROUP BY h "
                f"HAVING count(*) <= {COMMON_KEY}) "
                "SELECT DISTINCT hits.id FROM hits SEMI JOIN usable USING (h)"
            ).fetchall()
        finally:
            self.con.unregister("incoming")
            self.con.unregister("incoming_refs")
        return sorted(int(r[0]) for r in found)

    def term_frequencies(self, wanted: Mapping[str, Iterable[Any]]) -> dict[str, dict[str, float]]:
        """Per name column, the share of the community's customers with each wanted value
        (what Splink's term-frequency adjustment uses; a value nobody has counts once)."""
        out: dict[str, dict[str, float]] = {}
        for column, values in wanted.items():
            distinct = sorted({v for v in values if v})
            total = self.con.execute(
                f"SELECT count({column}) FROM names WHERE {column} <> ''"
            ).fetchall()
            count = max(1, int(total[0][0]))
            found: dict[str, int] = {}
            if distinct:
                self.con.register("wanted", pa.table({"v": pa.array(distinct, pa.string())}))
                try:
                    rows = self.con.execute(
                        f"SELECT {column}, count(*) FROM names JOIN wanted ON {column} = v "
                        f"GROUP BY {column}"
                    ).fetchall()
                finally:
                    self.con.unregister("wanted")
                found = {str(v): int(n) for v, n in rows}
            out[column] = {v: max(1, found.get(v, 0)) / count for v in distinct}
        return out

    def close(self) -> None:
        self.con.close()


class ImportScreening:
    """The screening hook for ``import_csv`` (see the module's docstring)."""

    def __init__(
        self, model: Mapping[str, Any] | None, model_version: int, cache: Path | None = None
    ) -> None:
        self.model = model
        self.model_version = model_version
        self.cache = cache
        """The SQLite ledger file the candidate keys are cached beside (None: in memory)."""
        self._pool: _Pool | None = None
        self._warming: threading.Thread | None = None

    def prefetch(self, engine: Engine, community_id: int) -> None:
        """When no customer of the community is keyed yet (the first import into a ledger, or
        the cache deleted), start keying them in a background thread, on a connection of its
        own, while the import reads and checks its file: the time goes in SQLite and DuckDB,
        which leave Python's interpreter to the import meanwhile. The screening waits for it
        before its first use of the keys, then refreshes them again in the import's own
        transaction (which finds nothing more to do unless the ledger changed in between, and
        then keys the difference). If it fails, that refresh does all of it. With keys kept
        from an earlier import nothing is started: the import's own refresh is quick."""
        if self.model is None or self._warming is not None:
            return
        self._open(community_id)
        pool = self._pool
        assert pool is not None
        if pool.keyed():
            return

        def warm() -> None:
            try:
                with read_only(engine) as session:
                    assert pool is not None
                    pool.refresh(session)
            except Exception:  # noqa: BLE001 - the import's own refresh does it again
                pass

        self._warming = threading.Thread(target=warm, name="civic-match-keys", daemon=True)
        self._warming.start()

    def _settled(self) -> None:
        """Wait for the background refresh (``prefetch``), if one was started."""
        if self._warming is not None:
            self._warming.join()
            self._warming = None

    def _open(self, community_id: int) -> None:
        self.close()
        path = cache_path(self.cache, community_id) if self.cache else None
        self._pool = _Pool(community_id, path)

    @property
    def mode(self) -> str:
        if self.model is None:
            return (
                "reference only: no saved matching model yet (run `civic match run` once to "
                "match names and addresses too)"
            )
        return f"reference and score (model v{self.model_version})"

    def close(self) -> None:
        self._settled()
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # -- screening a batch ----------------------------------------------------------------

    def screen(
        self,
        session: Session,
        scope: Scope,
        rows: Sequence[Incoming],
        against: Sequence[int] | None = None,
    ) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(rows)
        keys = [row_key(scope.community_id, r.raw) for r in rows]
        for i, verdict in self._earlier(session, scope, keys).items():
            verdicts[i] = verdict
        by_ref = self._by_reference(session, scope, [r for r in rows])
        for i, row in enumerate(rows):
            if verdicts[i] is None:
                for ref in _identity(row.refs):
                    if ref in by_ref:
                        verdicts[i] = Verdict("reference", by_ref[ref])
                        break
        rest = [i for i, v in enumerate(verdicts) if v is None]
        if rest and self.model is not None:
            scored = self._scored(session, scope, [(i, rows[i]) for i in rest], against)
            for i, verdict in scored.items():
                verdicts[i] = verdict
        return [v if v is not None else Verdict("create") for v in verdicts]

    def _earlier(self, session: Session, scope: Scope, keys: list[str]) -> dict[int, Verdict]:
        """Rows held or decided by an earlier import of the same row."""
        h = HOLDS.c
        found: dict[str, Any] = {}
        row: Any
        for chunk in chunked(sorted(set(keys))):
            query = (
                select(h.row_key, h.status, h.customer_id, h.candidate_id, h.id)
                .where(h.community_id == scope.community_id, h.row_key.in_(chunk))
                .order_by(h.id)
            )
            for row in session.execute(query):
                found[row[0]] = row  # the latest hold of the row wins
        out: dict[int, Verdict] = {}
        for i, key in enumerate(keys):
            row = found.get(key)
            if row is None:
                continue
            if row[1] == "held":
                out[i] = Verdict("hold", row[3], known=True)
            elif row[1] == "attached" and row[2] is not None:
                out[i] = Verdict("score", int(row[2]), reasons=(f"attached by hold {row[4]}",))
        return out

    def _by_reference(
        self, session: Session, scope: Scope, rows: Sequence[Incoming]
    ) -> dict[tuple[str, str], int]:
        """(ref type, normalised value) -> the existing customer holding it (active first)."""
        wanted = {ref for row in rows for ref in _identity(row.refs)}
        if not wanted:
            return {}
        r, c = REFS.c, CUSTOMERS.c
        best: dict[tuple[str, str], tuple[int, int]] = {}
        for chunk in chunked(sorted({n for _t, n in wanted})):
            query = (
                select(r.ref_type, r.normalized, r.customer_id, c.status)
                .join(CUSTOMERS, c.id == r.customer_id)
                .where(
                    c.community_id == scope.community_id,
                    c.merged_into_id.is_(None),
                    r.normalized.in_(chunk),
                )
            )
            for ref_type, normalized, cid, status in session.execute(query):
                key = (ref_type, normalized)
                if key not in wanted:
                    continue
                rank = (_STATUS_RANK.get(status, 3), int(cid))
                if key not in best or rank < best[key]:
                    best[key] = rank
        return {key: cid for key, (_rank, cid) in best.items()}

    def _scored(
        self,
        session: Session,
        scope: Scope,
        rows: Sequence[tuple[int, Incoming]],
        against: Sequence[int] | None = None,
    ) -> dict[int, Verdict]:
        assert self.model is not None
        ids = [(-(i + 1), row) for i, row in rows]
        self._settled()
        if self._pool is None or self._pool.community_id != scope.community_id:
            self._open(scope.community_id)
            against = None  # a new pool: refresh it and find candidates the usual way
        assert self._pool is not None
        if against is None:
            self._pool.refresh(session)
            candidates = self._pool.candidates(ids)
        else:
            # the rows were screened against everyone else in the previous pass
            candidates = sorted(set(against))
        if not candidates:
            return {}
        sources = _sources(session, candidates)
        incoming = records.build([_source(uid, scope.community_id, row) for uid, row in ids])
        existing = records.build(sources)
        frequencies = self._pool.term_frequencies(
            {
                name: [*incoming[name], *existing[name]]
                for name in ("first_name", "last_name", "business_name")
            }
        )
        pairs = model_engine.link(
            incoming,
            existing,
            self.model,
            min_weight=tiers.REVIEW_WEIGHT,
            term_frequencies=frequencies,
        )
        out: dict[int, Verdict] = {}
        for uid, pair in best_per_row(pairs).items():
            suggestion = tiers.suggest(pair.match_weight, _levels(pair))
            if suggestion.tier is None:
                continue
            cid = pair.id_r if pair.id_l < 0 else pair.id_l
            verdict = "score" if suggestion.tier == "merge" else "hold"
            out[-uid - 1] = Verdict(
                verdict,
                cid,
                round(pair.match_weight, 4),
                pair.match_probability,
                _oriented(pair),
                suggestion.reasons,
            )
        return out

    def related(self, rows: Sequence[Incoming]) -> list[set[int]]:
        """For each row, the earlier rows of ``rows`` that may be the same customer: an equal
        normalised identity reference, or (with a saved model, which can then score them)
        a shared name, house, phone, e-mail or business key (``RELATED_KEYS``)."""
        out: list[set[int]] = [set() for _ in rows]
        first: dict[tuple[str, str], int] = {}
        for j, row in enumerate(rows):
            for ref in _identity(row.refs):
                i = first.setdefault(ref, j)
                if i != j:
                    out[j].add(i)
        if self.model is None or len(rows) < 2:
            return out
        self._settled()
        con = self._pool.con if self._pool is not None else duckdb.connect(":memory:")
        table = pa.table(
            {
                "id": pa.array(range(len(rows)), type=pa.int64()),
                **{
                    name: pa.array([row.values.get(name) for row in rows], type=pa.string())
                    for name in _KEY_COLUMNS[1:]
                },
            }
        )
        con.register("batch_rows", table)
        try:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE batch_k AS " + _K_SQL.format(source="batch_rows")
            )
            kinds = ", ".join(f"'{k}'" for k in RELATED_KEYS)
            pairs = con.execute(
                "WITH keys AS (SELECT * FROM ("
                + _keys_sql("batch_k", hashed=False)
                + f") WHERE kind IN ({kinds})) "
                "SELECT DISTINCT a.id, b.id FROM keys a JOIN keys b USING (kind, key) "
                "WHERE a.id < b.id"
            ).fetchall()
            con.execute("DROP TABLE batch_k")
        finally:
            con.unregister("batch_rows")
            if self._pool is None:
                con.close()
        for i, j in pairs:
            out[int(j)].add(int(i))
        return out

    # -- holding rows ---------------------------------------------------------------------

    def hold(
        self, session: Session, scope: Scope, kind: str, held: Sequence[tuple[Incoming, Verdict]]
    ) -> None:
        if not held:
            return
        stamp = now()
        rows = [
            {
                "community_id": scope.community_id,
                "kind": kind,
                "file": scope.source[:255],
                "line": row.line,
                "row_key": row_key(scope.community_id, row.raw),
                "account_number": row.account_number,
                "values": dict(row.raw),
                "candidate_id": verdict.customer_id,
                "match_weight": verdict.match_weight,
                "match_probability": verdict.match_probability,
                "evidence": list(verdict.evidence),
                "reasons": list(verdict.reasons),
                "status": "held",
                "customer_id": None,
                "held_at": stamp,
                "held_by": scope.actor,
                "decided_by": None,
                "decided_at": None,
            }
            for row, verdict in held
        ]
        session.execute(insert(HOLDS), rows)
        lines = [row.line for row, _v in held]
        audit_rows(
            session,
            scope,
            [
                (
                    f"import.{kind}.hold",
                    "import_hold",
                    None,
                    None,
                    {"file": scope.source, "lines": [min(lines), max(lines)], "held": len(held)},
                )
            ],
        )


def _rank(pair: model_engine.Scored) -> tuple[float, int]:
    """How good a pair of (incoming row, existing customer) is: its weight, then the older
    (lower id) customer."""
    existing = pair.id_r if pair.id_l < 0 else pair.id_l
    return (pair.match_weight, -existing)


def best_per_row(pairs: Iterable[model_engine.Scored]) -> dict[int, model_engine.Scored]:
    """Each incoming row's (negative id's) best pair with an existing customer. Equal weights
    (a row that matches two duplicate records of one person alike) go to the older record,
    whatever order the engine returned the pairs in, so an import attaches the same way every
    time."""
    best: dict[int, model_engine.Scored] = {}
    for pair in pairs:
        uid = pair.id_l if pair.id_l < 0 else pair.id_r
        if uid not in best or _rank(pair) > _rank(best[uid]):
            best[uid] = pair
    return best


def _oriented(pair: model_engine.Scored) -> list[dict[str, Any]]:
    """The evidence with the existing customer on the left and the incoming row on the
    right."""
    evidence = _evidence(pair)
    if pair.id_l < 0:
        for e in evidence:
            e["left"], e["right"] = e["right"], e["left"]
    return evidence


def _source(uid: int, community_id: int, row: Incoming) -> records.SourceRecord:
    v = row.values
    return records.SourceRecord(
        uid,
        community_id,
        row.account_number,
        v.get("first_name"),
        v.get("middle_name"),
        v.get("last_name"),
        v.get("suffix"),
        v.get("business_name"),
        v.get("service_address"),
        v.get("mailing_address"),
        v.get("zip"),
        v.get("phone"),
        v.get("email"),
        str(v.get("status") or "active"),
        tuple((t, val) for t, val, _n in row.refs),
    )


def _sources(session: Session, ids: Sequence[int]) -> list[records.SourceRecord]:
    """The existing customers ``ids`` as source records."""
    c = CUSTOMERS.c
    refs: dict[int, list[tuple[str, str]]] = defaultdict(list)
    out: list[records.SourceRecord] = []
    for chunk in chunked(list(ids), 5_000):
        for cid, ref_type, value in session.execute(
            select(REFS.c.customer_id, REFS.c.ref_type, REFS.c.value).where(
                REFS.c.customer_id.in_(chunk)
            )
        ):
            refs[int(cid)].append((ref_type, value))
        query = select(
            c.id,
            c.community_id,
            c.account_number,
            c.first_name,
            c.middle_name,
            c.last_name,
            c.suffix,
            c.business_name,
            c.service_address,
            c.mailing_address,
            c.zip,
            c.phone,
            c.email,
            c.status,
        ).where(c.id.in_(chunk), c.status.in_(PARTICIPATING), c.merged_into_id.is_(None))
        for row in session.execute(query):
            out.append(records.SourceRecord(*row, refs=tuple(refs.get(int(row[0]), ()))))
    return out


def screening_for(
    engine: Engine,
    *,
    cache: bool = True,
    cache_dir: Path | None = None,
    prefetch: bool = True,
    community: str | None = None,
) -> ImportScreening:
    """The screening of an import into this ledger, with its latest saved model (if any).
    With ``cache``, the candidate keys are kept between imports: beside a SQLite ledger's
    file, or, for a server database such as PostgreSQL, in ``cache_dir`` under a digest of
    its URL (without the password); with neither, they are computed in memory for each
    import. With ``prefetch`` and a saved model, the keys of the import's community (the
    ``community`` code given, else the ledger's only one) start being brought up to date in
    the background straight away (``ImportScreening.prefetch``)."""
    with read_only(engine) as session:
        saved = latest_model(session)
        model = dict(saved.model) if saved else None
        version = saved.version if saved else 0
    url = engine.url
    base = None
    if cache and url.get_backend_name() == "sqlite":
        if url.database not in (None, "", ":memory:"):
            base = Path(str(url.database))
    elif cache and cache_dir is not None:
        digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()
        cache_dir.mkdir(parents=True, exist_ok=True)
        base = cache_dir / f"ledger-{digest[:16]}"
    screening = ImportScreening(model, version, base)
    if prefetch and model is not None:
        memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        with read_only(engine) as session:
            query = select(Community.id)
            if community:
                query = query.where(Community.code == community.strip().upper())
            communities = session.scalars(query.limit(2)).all()
        if len(communities) == 1 and not memory:
            # the import's community (it must be the only one when none is named)
            screening.prefetch(engine, int(communities[0]))
    return screening
