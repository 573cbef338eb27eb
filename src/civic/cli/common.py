"""Options every command shares, and opening the ledger database."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from civic.config import DEFAULT_LEDGER_URL
from civic.db import make_engine, read_only, transaction
from civic.errors import CivicError
from civic.ledger import migrate

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="CIVIC_LEDGER_URL",
        help="Ledger database: a SQLite path or a URL such as postgresql://user@host/db "
        "(default ./civic.db; env CIVIC_LEDGER_URL).",
        show_default=False,
    ),
]
ActorOption = Annotated[
    str | None,
    typer.Option(
        "--actor",
        envvar="CIVIC_ACTOR",
        help="Who is making the change, for the audit log (default: your login name).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")
]
CommunityOption = Annotated[
    str | None,
    typer.Option(
        "--community",
        "-c",
        envvar="CIVIC_COMMUNITY",
        help="Community code (needed only when the ledger holds several).",
        show_default=False,
    ),
]


def actor_name(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "civic")


def ledger_url(db: str | None) -> str:
    return db or DEFAULT_LEDGER_URL


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL or bare path (None for other databases or in-memory)."""
    if "://" not in url:
        return Path(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///") :])
    return None


def open_engine(db: str | None, *, must_exist: bool = True, serving: bool = False) -> Engine:
    """The ledger engine; refuses a database that ``civic init`` has not set up. ``serving``:
    for a web server, which keeps its SQLite connections open between requests."""
    url = ledger_url(db)
    if must_exist:
        path = sqlite_path(url)
        if path is not None and not path.exists():
            raise CivicError(f"no ledger at {path}: run `civic init` first")
    engine = make_engine(url, serving=serving)
    if must_exist:
        if not inspect(engine).has_table("customers"):
            raise CivicError(f"no ledger at {url}: run `civic init` first")
        if migrate.current_revision(engine) != migrate.head_revision(engine):
            raise CivicError(f"the ledger at {url} needs migrating: run `civic init`")
    return engine


@contextmanager
def writing(db: str | None) -> Iterator[Session]:
    """One transaction on the ledger: all of the command's changes or none."""
    engine = open_engine(db)
    try:
        with transaction(engine) as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def reading(db: str | None) -> Iterator[Session]:
    engine = open_engine(db)
    try:
        with read_only(engine) as session:
            yield session
    finally:
        engine.dispose()
