"""``create_app``: the portal web app over the portal store's engine."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from civic import __version__
from civic.config import Settings
from civic.portal.web import errors, pages, staff
from civic.portal.web.render import error_page
from civic.portal.web.staff import ExplainFn
from civic.security import RateLimiter, Sessions, check_secret_key


def create_app(
    portal: Engine, settings: Settings | None = None, *, explain: ExplainFn | None = None
) -> FastAPI:
    """The portal over ``portal`` (the caller disposes it). Session cookies are signed with
    ``settings.secret_key`` (a placeholder is refused in production). ``explain`` answers the
    staff page "why isn't this customer in the portal?"; without it the page says it is not
    set up."""
    settings = settings or Settings()
    secret = check_secret_key(settings.secret_key, production=settings.environment == "production")
    app = FastAPI(
        title="Civic Ledger portal",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.portal = portal
    app.state.sessions = Sessions(secret, cookie="civic_portal")
    app.state.limiters = {
        "login": RateLimiter(limit=5, window=60),
        "proof": RateLimiter(limit=10, window=600),
    }
    app.state.explain = explain
    errors.install(app, error_page)
    app.include_router(pages.router)
    app.include_router(staff.router)
    return app
