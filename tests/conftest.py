"""Real databases for every storage test: a SQLite file in a temp dir, and a throwaway
PostgreSQL database per test (cloned from a migrated template made once per session).

Under CI=true a missing PostgreSQL fails the run; elsewhere its tests skip with one line saying
how to enable them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import Engine

from civic.db import make_engine
from civic.ledger import migrate
from tests.builders import Town

PG_ADMIN = os.environ.get("CIVIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ON_CI = os.environ.get("CI", "").lower() == "true"
SKIP_PG = (
    "PostgreSQL not reachable at CIVIC_TEST_PG (default postgresql://postgres@127.0.0.1:5432/"
    "postgres): start it, or set CIVIC_TEST_PG, to run the PostgreSQL half of the tests"
)


@pytest.fixture(autouse=True, scope="session")
def _match_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Imports by the CLI keep a server ledger's match keys here, not in the user's cache."""
    before = os.environ.get("CIVIC_MATCH_CACHE_DIR")
    os.environ["CIVIC_MATCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("match-cache"))
    yield
    if before is None:
        os.environ.pop("CIVIC_MATCH_CACHE_DIR", None)
    else:
        os.environ["CIVIC_MATCH_CACHE_DIR"] = before


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def pg_template_db(prefix: str, upgrade: Callable[[Engine], object]) -> Iterator[str]:
    """A PostgreSQL database migrated by ``upgrade``, the template each test clones; dropped
    at the end. Fails under CI=true, and skips elsewhere, when PostgreSQL is not reachable."""
    if not _pg_reachable():
        if ON_CI:
            pytest.fail("CI=true but PostgreSQL is not reachable: " + PG_ADMIN)
        pytest.skip(SKIP_PG)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    engine = make_engine(_pg_url(name))
    upgrade(engine)
    engine.dispose()
    yield name
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_template_db(path: Path, upgrade: Callable[[Engine], object]) -> Path:
    """A SQLite file migrated by ``upgrade``, copied by each test."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template for each test's database."""
    yield from pg_template_db("civic_tmpl", migrate.upgrade)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template_db(tmp_path_factory.mktemp("tmpl") / "ledger.db", migrate.upgrade)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated ledger database on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "ledger.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"civic_t_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    try:
        yield _pg_url(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite ledger only (for tests about SQLite itself or the CLI)."""
    path = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@contextmanager
def serving(engine: Engine) -> Iterator[Engine]:
    """The engine a web server opens on the same database (``make_engine(serving=True)``:
    pooled SQLite connections), so served tests see what a server would."""
    served = make_engine(engine.url.render_as_string(hide_password=False), serving=True)
    try:
        yield served
    finally:
        served.dispose()


@pytest.fixture
def town(engine: Engine) -> Town:
    return Town(engine)
