"""``civic serve api``: run the ledger API (FastAPI under uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from civic.cli.common import DbOption, open_engine
from civic.cli.output import note
from civic.errors import InvalidInput

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

    engine = open_engine(db)
    try:
        note(f"Ledger API on http://{host}:{port}/ (docs at /docs); Ctrl+C stops it.")
        uvicorn.run(create_app(engine), host=host, port=port, log_level=log_level.lower())
    finally:
        engine.dispose()
