"""Fast inserts for the sync: the driver's ``executemany`` on SQLite, ``COPY`` on PostgreSQL,
inside the session's transaction, with each value converted as SQLAlchemy would."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Table, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _processors(session: Session, table: Table, columns: Sequence[str]) -> list[Processor]:
    dialect = session.get_bind().dialect
    out: list[Processor] = []
    for name in columns:
        kind = table.c[name].type
        process = kind.dialect_impl(dialect).bind_processor(dialect)
        out.append(process if process is not None else _identity)
    return out


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
    procs = _processors(session, table, columns)
    active = [(i, p) for i, p in enumerate(procs) if p is not _identity]
    converted: list[Sequence[Any]]
    if not active:
        converted = [tuple(row) for row in rows]
    else:
        converted = []
        for row in rows:
            values = list(row)
            for i, p in active:
                values[i] = p(values[i])
            converted.append(tuple(values))
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
