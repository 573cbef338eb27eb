"""The Alembic migrations build exactly the schema the table classes describe, on both
backends: a table or column added to the code without a migration fails here."""

from __future__ import annotations

import importlib
import pkgutil

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

import civic
from civic.ledger.tables import Base


def _ledger_metadata() -> None:
    """Import every domain's ``tables`` module that joins the ledger's metadata."""
    for mod in pkgutil.walk_packages(civic.__path__, "civic."):
        if mod.name.endswith(".tables") and ".portal" not in mod.name:
            importlib.import_module(mod.name)


def test_migrations_match_the_table_classes(engine: Engine) -> None:
    _ledger_metadata()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
