"""``create_app``: the ledger API as a FastAPI application over one engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from civic import __version__
from civic.api import changes, customers, errors
from civic.config import Settings
from civic.db import make_engine

DESCRIPTION = """\
Read-only access to the Civic Ledger: customers, their aged balances and transaction history,
and the change feed the portal sync follows.

Send `Authorization: Bearer <token>` with a token made by
`civic tokens create NAME --scope customers:read` (or `changes:read`). Money is a decimal
string such as `"1234.56"`. Every error has the shape
`{"error": {"code": ..., "message": ..., "details": {...}}}`.
"""


def create_app(engine_or_settings: Engine | Settings) -> FastAPI:
    """The API over an engine (which the caller disposes), or over ``Settings.ledger_url``
    (an engine the app makes and disposes at shutdown)."""
    if isinstance(engine_or_settings, Engine):
        engine, owned = engine_or_settings, False
    else:
        engine, owned = make_engine(engine_or_settings.ledger_url), True

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                engine.dispose()

    app = FastAPI(
        title="Civic Ledger API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.engine = engine
    errors.install(app)
    app.include_router(customers.router, prefix="/api/v1")
    app.include_router(changes.router, prefix="/api/v1")
    return app
