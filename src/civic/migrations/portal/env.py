"""Alembic environment for the portal database; run through ``civic sync run`` (which brings the
portal store to the newest schema before its first batch)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from civic.portal.store.tables import Base

config = context.config
target_metadata = Base.metadata


def _include(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # The search index is backend-specific DDL written by hand in the migrations.
    return not (name or "").startswith("portal_search")


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
        render_as_batch=True,
        compare_type=True,
        include_object=_include,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
