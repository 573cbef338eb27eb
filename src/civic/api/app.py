"""``create_app``: the ledger API as a FastAPI application over one engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from civic import __version__
from civic.api import changes, customers, errors
from civic.api.staff import pages, queue
from civic.config import Settings
from civic.db import make_engine
from civic.security import RateLimiter, Sessions, check_secret_key

DESCRIPTION = """\
Read-only access to the Civic Ledger: customers, their aged balances and transaction history,
and the change feed the portal sync follows.

Send `Authorization: Bearer <token>` with a token made by
`civic tokens create NAME --scope customers:read` (or `changes:read`). Money is a decimal
string such as `"1234.56"`. Every error has the shape
`{"error": {"code": ..., "message": ..., "details": {...}}}`.
"""


def create_app(engine_or_settings: Engine | Settings, settings: Settings | None = None) -> FastAPI:
    """The API over an engine (which the caller disposes), or over ``Settings.ledger_url``
    (an engine the app makes and disposes at shutdown). The staff pages sign their session
    cookies with ``settings.secret_key`` (refused if a placeholder in production)."""
    if isinstance(engine_or_settings, Engine):
        engine, owned = engine_or_settings, False
        settings = settings or Settings()
    else:
        engine, owned = make_engine(engine_or_settings.ledger_url), True
        settings = engine_or_settings
    secret = check_secret_key(settings.secret_key, production=settings.environment == "production")

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
    app.state.staff_sessions = Sessions(secret)
    app.state.staff_login_limiter = RateLimiter(limit=5, window=60)
    errors.install(app, html=pages.error_page)
    app.include_router(customers.router, prefix="/api/v1")
    app.include_router(changes.router, prefix="/api/v1")
    app.include_router(pages.router)
    app.include_router(queue.router)
    return app
