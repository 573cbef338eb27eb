"""A portal store beside each test's ledger, on the same backend: a SQLite file in the test's
temp dir, or a throwaway PostgreSQL database cloned from a migrated portal template."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from civic.db import make_engine
from civic.portal.store import migrate
from tests.api.conftest import LiveApi, api, serve  # noqa: F401  (fixtures for the HTTP feed)
from tests.conftest import _admin, _pg_url, pg_template_db, sqlite_template_db


@pytest.fixture(scope="session")
def portal_pg_template() -> Iterator[str]:
    yield from pg_template_db("civic_ptmpl", migrate.upgrade)


@pytest.fixture(scope="session")
def portal_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template_db(tmp_path_factory.mktemp("ptmpl") / "portal.db", migrate.upgrade)


@pytest.fixture
def portal_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated portal store on the ledger's backend."""
    if db_url.startswith("sqlite"):
        template: Path = request.getfixturevalue("portal_sqlite_template")
        path = tmp_path / "portal.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("portal_pg_template")
    name = f"civic_p_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    try:
        yield _pg_url(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def portal(portal_url: str) -> Iterator[Engine]:
    eng = make_engine(portal_url)
    yield eng
    eng.dispose()
