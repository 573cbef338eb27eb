"""Every refused request as a page (or JSON, for clients that ask for it), in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from civic.errors import CivicError, InvalidInput, NotFound

log = logging.getLogger(__name__)

READ_ONLY = (
    "The portal shows what the city's system of record holds and never changes it: "
    "corrections are made in the system of record (call or visit the utility office), and "
    "the portal shows them after the next sync."
)


class ReadOnlyPortal(CivicError):
    """A request that tries to change a record."""

    status = 405
    code = "read_only"

    def __init__(self, method: str, path: str) -> None:
        super().__init__(READ_ONLY, method=method, path=path)


class PageNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("There is no such page, or it is not yours to see.")


class Unavailable(CivicError):
    status = 503
    code = "unavailable"


class InternalError(CivicError):
    status = 500
    code = "internal"


Renderer = Callable[[Request, CivicError], Response]


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def install(app: FastAPI, page: Renderer) -> None:
    def answer(request: Request, err: CivicError) -> Response:
        if wants_json(request):
            headers = {"Allow": "GET, HEAD"} if err.status == 405 else None
            return JSONResponse(err.to_dict(), status_code=err.status, headers=headers)
        return page(request, err)

    @app.exception_handler(CivicError)
    async def civic_error(request: Request, exc: CivicError) -> Response:
        return answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return answer(request, InvalidInput(f"{field}: {first.get('msg', 'not valid')}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return answer(request, ReadOnlyPortal(request.method, request.url.path))
        if exc.status_code == 404:
            return answer(request, PageNotFound())
        err = CivicError(str(exc.detail))
        err.status, err.code = exc.status_code, "http_error"
        return answer(request, err)

    @app.exception_handler(OperationalError)
    async def database_error(request: Request, exc: OperationalError) -> Response:
        log.error("portal store unavailable: %s", exc)
        return answer(request, Unavailable("The portal is unavailable for a moment: try again."))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        return answer(request, InternalError("Something went wrong on our side: try again."))
