"""Engines, sessions, the naming convention, and the few places SQLite and PostgreSQL differ.

Services take a ``Session`` and never commit; the caller owns the transaction (``transaction``)
so that a change and its outbox row commit together or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from civic.errors import CivicError, Conflict, InvalidInput

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware, on SQLite (which keeps no
    zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and a bare path; use the psycopg 3 driver for PostgreSQL."""
    if "://" not in url:
        url = f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


SERVING_POOL = {"pool_size": 8, "max_overflow": 8}
"""SQLite connections a server keeps open (its request threads share them)."""


def make_engine(url: str, *, serving: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout. SQLite
    connections are opened per use (nothing holds the file between commands) unless
    ``serving``: a long-lived web server keeps a pool of them, since opening one (its pragmas,
    the schema read again, a cold page cache) costs about a millisecond per request. In WAL
    mode a pooled connection between requests holds no snapshot: each request sees the newest
    commit."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import QueuePool

    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if serving and parsed.database not in (None, "", ":memory:"):
            kwargs.setdefault("poolclass", QueuePool)
            for key, value in SERVING_POOL.items():
                kwargs.setdefault(key, value)
        kwargs.setdefault("poolclass", NullPool)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy own transactions (pysqlite's own BEGIN handling is disabled).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # BEGIN IMMEDIATE: a writer takes the write lock up front, so two writers queue instead of
    # failing with "database is locked" at their first write. Readers (``read_only``) do not.
    if conn.get_execution_options().get("civic_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else (session_or_engine)
    )
    return bind.dialect.name == "sqlite"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def translate_data_error(exc: DataError) -> InvalidInput:
    """A value the database refused (too long for its column, out of range) as one line.
    Services validate first; this is the backstop that keeps a traceback from a user."""
    detail = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
    return InvalidInput(f"a value does not fit its field: {detail}")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One database transaction: commit on success, roll back on any error.

    Driver errors are translated into ``CivicError`` so that callers never show a traceback
    for a constraint a user's input violated.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise translate_integrity_error(exc) from exc
    except DataError as exc:
        session.rollback()
        raise translate_data_error(exc) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_only(engine: Engine) -> Iterator[Session]:
    """A session for reading: never commits, and on SQLite does not take the write lock."""
    with engine.connect() as conn:
        conn = conn.execution_options(civic_read_only=True)
        session = Session(bind=conn, expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            conn.rollback()


_UNIQUE = re.compile(r"(?:UNIQUE constraint failed: |unique constraint \")([\w.,\s]+)")


def translate_integrity_error(exc: IntegrityError) -> CivicError:
    msg = str(exc.orig)
    match = _UNIQUE.search(msg)
    if match:
        return Conflict(f"already exists ({match.group(1).strip()})", constraint=match.group(1))
    first = msg.strip().splitlines()[0] if msg.strip() else "constraint violated"
    return Conflict(f"refused by the database: {first}")


def lock_outbox(session: Session) -> None:
    """Serialise outbox writers so sequence numbers become visible in the order issued.

    On PostgreSQL a sequence value is taken at insert but seen at commit, so without this lock
    a reader could see 11 before 10 commits and skip 10 forever. The EXCLUSIVE table lock (held
    to commit) still lets readers read. SQLite already serialises writers (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE outbox IN EXCLUSIVE MODE"))


def describe_operational_error(exc: OperationalError) -> str:
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return f"cannot use the database: {first}"
