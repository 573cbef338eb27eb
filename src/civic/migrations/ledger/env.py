"""Alembic environment for the ledger database; run through ``civic init``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import civic.certification.tables  # noqa: F401  (its tables join the ledger's metadata)
import civic.matching.tables  # noqa: F401
import civic.merge.tables  # noqa: F401
from civic.ledger.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from civic.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
