"""Request dependencies as ``Annotated`` types: the engine, a read-only session per request,
and the bearer token holding a scope (``CustomersReader``, ``ChangesReader``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from civic.db import read_only, transaction
from civic.errors import CivicError, Unauthorized
from civic.ledger import tokens

log = logging.getLogger(__name__)


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_session(engine: EngineDep) -> Iterator[Session]:
    """A read-only session for this request, closed before the response is sent."""
    with read_only(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token made by `civic tokens create NAME --scope SCOPE`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


def record_use(engine: Engine, token_id: int) -> None:
    """Stamp ``last_used_at`` after the response has gone out; never fails the request."""
    try:
        with transaction(engine) as session:
            tokens.mark_used(session, token_id)
    except (SQLAlchemyError, CivicError) as exc:
        log.warning("could not record the use of API token %s: %s", token_id, exc)


def require_scope(scope: str) -> Callable[..., tokens.TokenView]:
    """A dependency admitting only a valid token that grants ``scope`` (else 401 / 403)."""

    def token_with_scope(
        credentials: Credentials,
        session: SessionDep,
        engine: EngineDep,
        background: BackgroundTasks,
    ) -> tokens.TokenView:
        if credentials is None:
            raise Unauthorized("missing API token: send the header Authorization: Bearer <token>")
        view = tokens.to_view(tokens.authenticate(session, credentials.credentials, scope))
        if tokens.use_is_stale(view.last_used_at):
            # Written in its own short transaction after the response, so reading stays a read.
            background.add_task(record_use, engine, view.id)
        return view

    return token_with_scope


CustomersReader = Annotated[tokens.TokenView, Depends(require_scope(tokens.SCOPE_CUSTOMERS_READ))]
ChangesReader = Annotated[tokens.TokenView, Depends(require_scope(tokens.SCOPE_CHANGES_READ))]
