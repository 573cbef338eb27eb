"""The one place errors become HTTP responses.

Every error answer has the shape of ``CivicError.to_dict``:
``{"error": {"code": ..., "message": ..., "details": {...}}}`` — refused operations from the
services, FastAPI's request validation, unknown routes, database outages and bugs alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from civic.db import describe_operational_error
from civic.errors import CivicError, InvalidInput, NotFound

log = logging.getLogger(__name__)


class MethodNotAllowed(CivicError):
    status = 405
    code = "method_not_allowed"


class Unavailable(CivicError):
    status = 503
    code = "unavailable"


class InternalError(CivicError):
    status = 500
    code = "internal"


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine name: not_found, unauthorized, invalid, ...")
    message: str = Field(description="What went wrong, in words a person can act on.")
    details: dict[str, Any] = Field(description="The ids and fields involved.")


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorBody


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _doc("No bearer token, or an unknown or revoked one."),
    403: _doc("The token lacks the scope this endpoint needs."),
    422: _doc("A parameter is not valid; details.errors lists each one."),
}
"""Error answers every authenticated endpoint can give, for the OpenAPI document."""


def error_response(err: CivicError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return JSONResponse(err.to_dict(), status_code=err.status, headers=headers)


def from_validation(exc: RequestValidationError) -> InvalidInput:
    """FastAPI's validation errors as one ``InvalidInput`` naming each bad parameter."""
    problems = []
    for e in exc.errors():
        loc = [str(part) for part in e.get("loc", ())]
        field = ".".join(loc[1:]) or (loc[0] if loc else "request")
        where = loc[0] if loc else "request"
        problems.append(
            {"field": field, "in": where, "message": e.get("msg", ""), "type": e.get("type", "")}
        )
    first = problems[0] if problems else {"field": "request", "message": "not valid"}
    return InvalidInput(
        f"{first['field']}: {first['message']}", field=first["field"], errors=problems
    )


def from_http(request: Request, exc: StarletteHTTPException) -> CivicError:
    """Starlette's routing errors (unknown path, wrong method) in our shape."""
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        return NotFound(f"no such endpoint: {where} (see /docs)", path=request.url.path)
    if exc.status_code == 405:
        return MethodNotAllowed(
            f"method not allowed: {where} (the API is read-only)", method=request.method
        )
    err = CivicError(str(exc.detail))
    err.status, err.code = exc.status_code, "http_error"
    return err


HtmlRenderer = Callable[[Request, CivicError], Response]
"""Renders an error as a web page, for the staff pages (``/staff``)."""


def install(app: FastAPI, html: HtmlRenderer | None = None, html_prefix: str = "/staff") -> None:
    """Register the handlers that turn every exception into the one error shape (a page, for
    requests under ``html_prefix`` when ``html`` is given)."""

    def answer(request: Request, err: CivicError) -> Response:
        if html is not None and request.url.path.startswith(html_prefix):
            return html(request, err)
        return error_response(err)

    @app.exception_handler(CivicError)
    async def civic_error(request: Request, exc: CivicError) -> Response:
        return answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return answer(request, from_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return answer(request, from_http(request, exc))

    @app.exception_handler(OperationalError)
    async def database_error(request: Request, exc: OperationalError) -> Response:
        log.error("ledger database unavailable: %s", exc)
        return answer(request, Unavailable(describe_operational_error(exc)))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        # Starlette re-raises after answering, so the traceback still reaches the server log.
        return answer(
            request, InternalError("internal error: see the server log", path=request.url.path)
        )
