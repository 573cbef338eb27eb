"""Bulk inserts for the demo loader, and the few places SQLite and PostgreSQL differ for it.

SQLAlchemy builds each statement (table and column names quoted by the dialect) and supplies
the value conversions (its own bind processors for dates, timestamps and booleans, memoised
since a town has few distinct days); the rows, already tuples in column order, go to the
driver: ``executemany`` on SQLite, ``COPY ... FROM STDIN`` on PostgreSQL. Per-row parameter
processing in ``Session.execute(insert(table), dicts)`` costs about three times what the
database itself spends, which is what stood between 100,000 customers and "a few minutes".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from civic.ledger.tables import Base

TABLES = Base.metadata.tables

COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "id",
        "community_id",
        "account_number",
        "location",
        "occupant",
        "first_name",
        "middle_name",
        "last_name",
        "suffix",
        "business_name",
        "service_address",
        "mailing_address",
        "city",
        "state",
        "zip",
        "phone",
        "email",
        "status",
        "online_access",
        "collection_code",
        "master_customer_id",
        "created_date",
        "created_at",
        "updated_at",
        "version",
    ),
    "customer_refs": ("customer_id", "ref_type", "value", "normalized"),
    "alert_messages": ("customer_id", "message", "created_at", "created_by"),
    "transactions": (
        "id",
        "customer_id",
        "service_id",
        "period_id",
        "kind",
        "amount_cents",
        "txn_date",
        "description",
        "reference",
        "voids_id",
        "posted_by",
        "posted_at",
    ),
    "meter_readings": (
        "id",
        "customer_id",
        "meter_number",
        "period_id",
        "reading",
        "read_date",
        "posted_by",
        "posted_at",
    ),
    "orders": (
        "id",
        "community_id",
        "customer_id",
        "order_number",
        "kind",
        "status",
        "start_date",
        "end_date",
        "description",
        "created_at",
        "updated_at",
    ),
    "outbox": ("at", "community_id", "customer_id", "entity", "entity_id", "op"),
}
"""The columns the loader writes, in the order of its row tuples."""

Processor = Callable[[Any], Any]


class BulkSql:
    """INSERT statements and value conversions for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.postgres = dialect.name == "postgresql"
        self.sql = {name: self._insert_sql(name, cols) for name, cols in COLUMNS.items()}
        self._date = self._processor("transactions", "txn_date")
        self._stamp = self._processor("transactions", "posted_at")
        self._flag = self._processor("customers", "online_access")
        self._days: dict[date | None, Any] = {None: None}
        self._stamps: dict[tuple[date, int], Any] = {}

    def _insert_sql(self, table: str, columns: Sequence[str]) -> str:
        quote = self.dialect.identifier_preparer
        marker = "?" if self.dialect.paramstyle == "qmark" else "%s"
        names = ", ".join(quote.quote(c) for c in columns)
        markers = ", ".join([marker] * len(columns))
        return f"INSERT INTO {quote.format_table(TABLES[table])} ({names}) VALUES ({markers})"

    def _processor(self, table: str, column: str) -> Processor:
        kind = TABLES[table].c[column].type
        process = kind.dialect_impl(self.dialect).bind_processor(self.dialect)
        return process if process is not None else (lambda value: value)

    def day(self, value: date | None) -> Any:
        """A DATE value as the driver wants it."""
        if value not in self._days:
            self._days[value] = self._date(value)
        return self._days[value]

    def stamp(self, value: date, hour: int = 12) -> Any:
        """A deterministic TIMESTAMP (``hour`` o'clock UTC on ``value``) for created_at and
        posted_at columns, as the driver wants it."""
        key = (value, hour)
        if key not in self._stamps:
            self._stamps[key] = self._stamp(datetime.combine(value, time(hour), tzinfo=UTC))
        return self._stamps[key]

    def now(self) -> Any:
        return self._stamp(datetime.now(UTC))

    def flag(self, value: bool) -> Any:
        return self._flag(value)

    def insert(self, session: Session, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (tuples in ``COLUMNS[table]`` order): ``executemany`` on SQLite,
        ``COPY ... FROM STDIN`` on PostgreSQL (several times faster than row-by-row inserts
        there), both inside the session's transaction."""
        if not rows:
            return
        connection = session.connection()
        if not self.postgres:
            connection.exec_driver_sql(self.sql[table], rows)
            return
        quote = self.dialect.identifier_preparer
        names = ", ".join(quote.quote(c) for c in COLUMNS[table])
        statement = f"COPY {quote.format_table(TABLES[table])} ({names}) FROM STDIN"
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def move_sequences(self, session: Session, next_ids: dict[str, int]) -> None:
        """PostgreSQL: let the id sequences continue after ids the loader assigned itself."""
        if not self.postgres:
            return
        for table, value in next_ids.items():
            session.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v, false)"),
                {"t": table, "v": value},
            )
