"""Fast inserts for the sync: the driver's ``executemany`` on SQLite, ``COPY`` on PostgreSQL,
inside the session's transaction, with each value converted as SQLAlchemy would."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, Table, any_, literal, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _processors(session: Session, table: Table, columns: Sequence[str]) -> list[Processor]:
    return _type_processors(session, [table.c[name].type for name in columns])


def _type_processors(session: Session, kinds: Sequence[TypeEngine[Any]]) -> list[Processor]:
    dialect = session.get_bind().dialect
    out: list[Processor] = []
    for kind in kinds:
        process = kind.dialect_impl(dialect).bind_processor(dialect)
        out.append(process if process is not None else _identity)
    return out


def _converted(procs: Sequence[Processor], rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    active = [(i, p) for i, p in enumerate(procs) if p is not _identity]
    if not active:
        return [tuple(row) for row in rows]
    out: list[Sequence[Any]] = []
    for row in rows:
        values = list(row)
        for i, p in active:
            values[i] = p(values[i])
        out.append(tuple(values))
    return out


def unnest(
    session: Session, spec: Sequence[tuple[str, TypeEngine[Any]]], rows: Sequence[Sequence[Any]]
) -> tuple[str, dict[str, Any]]:
    """PostgreSQL: ``rows`` (values in ``spec`` order) as a FROM item,
    ``unnest(CAST(:_u0 AS type[]), ...) AS v(name, ...)`` — one bound array per column, so a
    statement over thousands of rows is one round trip (an ``executemany`` is one statement
    per row). Strings go as ``TEXT[]`` so that the column, not the cast, checks their length.
    Returns the SQL and its parameters."""
    dialect = session.get_bind().dialect
    procs = _type_processors(session, [kind for _name, kind in spec])
    converted = _converted(procs, rows)
    params: dict[str, Any] = {}
    arrays: list[str] = []
    for i, (_name, kind) in enumerate(spec):
        sql_type = "TEXT" if isinstance(kind, String) else kind.compile(dialect=dialect)
        params[f"_u{i}"] = [row[i] for row in converted]
        arrays.append(f"CAST(:_u{i} AS {sql_type}[])")
    names = ", ".join(dialect.identifier_preparer.quote(name) for name, _kind in spec)
    return f"unnest({', '.join(arrays)}) AS v({names})", params


def update_rows(
    session: Session,
    table: Table,
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """``UPDATE table SET columns WHERE keys`` for each row (values in ``keys + columns``
    order): ONE statement on PostgreSQL (``UPDATE ... FROM unnest(...)``), the driver's
    ``executemany`` on SQLite. The keys must name one row each."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer
    name = quote.format_table(table)
    if dialect.name == "postgresql":
        values, params = unnest(session, [(c, table.c[c].type) for c in (*keys, *columns)], rows)
        sets = ", ".join(f"{quote.quote(c)} = v.{quote.quote(c)}" for c in columns)
        where = " AND ".join(f"t.{quote.quote(k)} = v.{quote.quote(k)}" for k in keys)
        session.execute(text(f"UPDATE {name} AS t SET {sets} FROM {values} WHERE {where}"), params)
        return
    procs = _processors(session, table, [*keys, *columns])
    moved = [(*row[len(keys) :], *row[: len(keys)]) for row in _converted(procs, rows)]
    sets = ", ".join(f"{quote.quote(c)} = ?" for c in columns)
    where = " AND ".join(f"{quote.quote(k)} = ?" for k in keys)
    session.connection().exec_driver_sql(f"UPDATE {name} SET {sets} WHERE {where}", moved)


ARRAY_CHUNK = 20_000
"""Ids per statement when they go as one bound array (PostgreSQL)."""


def _dialect_name(bind: Session | Connection) -> str:
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name
    return bind.dialect.name


def among(
    bind: Session | Connection,
    column: Any,
    values: Sequence[Any],
    kind: TypeEngine[Any] | None = None,
) -> ColumnElement[bool]:
    """``column IN values``. On PostgreSQL ``column = ANY(:array)``: ONE bound array, so the
    statement is short and the same whatever the number of values — SQLAlchemy compiles it
    once and psycopg parses it once (an ``IN`` of 500 bound parameters is compiled and parsed
    again for every statement, which cost more than running it). ``kind``: the element type
    (BIGINT by default)."""
    if _dialect_name(bind) == "postgresql":
        found: ColumnElement[bool] = column == any_(
            literal(list(values), ARRAY(kind or BigInteger()))
        )
        return found
    within: ColumnElement[bool] = column.in_(list(values))
    return within


def chunk_size(bind: Session | Connection, default: int) -> int:
    """How many values one ``among`` statement takes: ``default`` (bound parameters) on
    SQLite, ``ARRAY_CHUNK`` on PostgreSQL."""
    return ARRAY_CHUNK if _dialect_name(bind) == "postgresql" else default


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in ``columns`` order) into ``table``."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(c) for c in columns)
    converted = _converted(_processors(session, table, columns), rows)
    connection = session.connection()
    if dialect.name != "postgresql":
        markers = ", ".join("?" for _ in columns)
        connection.exec_driver_sql(
            f"INSERT INTO {quote.format_table(table)} ({names}) VALUES ({markers})", converted
        )
        return
    raw_copy(session, f"COPY {quote.format_table(table)} ({names}) FROM STDIN", converted)


def raw_copy(session: Session, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL ``COPY ... FROM STDIN`` of ``rows`` in the session's transaction."""
    connection = session.connection()
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
