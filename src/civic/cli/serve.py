"""``civic serve api | portal``: run the ledger API or the portal web app (FastAPI under
uvicorn)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from civic.cli.common import DbOption, open_engine
from civic.cli.output import note
from civic.cli.sync import FeedUrlOption, LedgerOption, PortalOption, TokenOption
from civic.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from civic.sync.explain import Explanation
    from civic.sync.feeds import HttpFeed

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")

app = typer.Typer(help="Run the Civic Ledger web services.", no_args_is_help=True)


@app.command("api")
def api(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            envvar="CIVIC_API_HOST",
            help="Address to listen on; 0.0.0.0 listens on every interface.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", envvar="CIVIC_API_PORT", help="Port to listen on."),
    ] = 8001,
    log_level: Annotated[
        str,
        typer.Option("--log-level", help=f"How much the server logs: {', '.join(LOG_LEVELS)}."),
    ] = "info",
    db: DbOption = None,
) -> None:
    """Serve the read-only ledger API until interrupted (OpenAPI documentation at /docs).

    Customers, their balances and history, and the change feed, for holders of a token from
    `civic tokens create`.
    """
    if log_level.lower() not in LOG_LEVELS:
        raise InvalidInput(f"--log-level: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    import uvicorn

    from civic.api.app import create_app

    engine = open_engine(db, serving=True)
    try:
        note(f"Ledger API on http://{host}:{port}/ (docs at /docs); Ctrl+C stops it.")
        uvicorn.run(create_app(engine), host=host, port=port, log_level=log_level.lower())
    finally:
        engine.dispose()


def ledger_explainer(
    ledger: Engine | HttpFeed,
) -> Callable[[Session, str, Sequence[str], str | None], Explanation]:
    """The portal's "why isn't this customer in the portal?" over the ledger's database (a
    read-only session per question) or its HTTP API: ``civic.sync.explain`` handed to the web
    app, which itself never imports the sync."""
    from sqlalchemy.engine import Engine

    from civic.db import read_only
    from civic.sync.explain import ApiLookup, explain

    def answer(
        portal: Session, query: str, communities: Sequence[str], account: str | None
    ) -> Explanation:
        if isinstance(ledger, Engine):
            with read_only(ledger) as session:
                return explain(session, portal, query, communities=communities, account=account)
        return explain(ApiLookup(ledger), portal, query, communities=communities, account=account)

    return answer


@app.command("portal")
def portal(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            envvar="CIVIC_PORTAL_HOST",
            help="Address to listen on; 0.0.0.0 listens on every interface.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", envvar="CIVIC_PORTAL_PORT", help="Port to listen on."),
    ] = 8000,
    log_level: Annotated[
        str,
        typer.Option("--log-level", help=f"How much the server logs: {', '.join(LOG_LEVELS)}."),
    ] = "info",
    portal_db: PortalOption = None,
    ledger: LedgerOption = None,
    feed_url: FeedUrlOption = None,
    token: TokenOption = None,
) -> None:
    """Serve the resident and staff portal until interrupted.

    It reads the portal store (filled by `civic sync run`). The staff page "why isn't this
    customer in the portal?" also asks the ledger: its database (--ledger, default ./civic.db
    when it exists) or its API (--feed-url with --token, scope customers:read).
    """
    if log_level.lower() not in LOG_LEVELS:
        raise InvalidInput(f"--log-level: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    import uvicorn

    from civic.cli.common import ledger_url, sqlite_path
    from civic.cli.sync import open_portal
    from civic.config import Settings
    from civic.portal.web.app import create_app
    from civic.sync.feeds import HttpFeed

    settings = Settings()
    engine = open_portal(portal_db, serving=True)
    source: Engine | HttpFeed | None = None
    try:
        if feed_url:
            if not token:
                raise InvalidInput("--feed-url needs --token (scope customers:read)")
            source = HttpFeed(feed_url, token)
        elif ledger is not None or _default_ledger_exists(sqlite_path(ledger_url(None))):
            source = open_engine(ledger, serving=True)
        else:
            note("No ledger at ./civic.db: the explain page is off (give --ledger or --feed-url).")
        app_ = create_app(
            engine, settings, explain=ledger_explainer(source) if source is not None else None
        )
        note(f"Portal on http://{host}:{port}/; Ctrl+C stops it.")
        uvicorn.run(app_, host=host, port=port, log_level=log_level.lower())
    finally:
        if isinstance(source, HttpFeed):
            source.close()
        elif source is not None:
            source.dispose()
        engine.dispose()


def _default_ledger_exists(path: Path | None) -> bool:
    return path is not None and path.exists()
