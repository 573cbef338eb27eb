"""Who is asking: a signed, HttpOnly session cookie (``civic.security.Sessions``) holding the
user's id and a CSRF token. Every visitor gets a session with a token on the first page, so
the sign-in and registration forms carry one too; signing in starts a fresh session."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request, Response
from sqlalchemy.engine import Engine

from civic.db import read_only
from civic.errors import CivicError, Forbidden
from civic.portal.store.users import UserView, get_user
from civic.portal.web.errors import PageNotFound
from civic.security import RateLimiter, Sessions, csrf_ok

COOKIE = "civic_portal"


class SignInRequired(CivicError):
    """No valid session: answered with a redirect to the sign-in page."""

    status = 303
    code = "sign_in"


def engine(request: Request) -> Engine:
    found: Engine = request.app.state.portal
    return found


def jar(request: Request) -> Sessions:
    found: Sessions = request.app.state.sessions
    return found


def limiter(request: Request, name: str) -> RateLimiter:
    found: RateLimiter = request.app.state.limiters[name]
    return found


def session_data(request: Request) -> dict[str, Any] | None:
    cached = getattr(request.state, "session", None)
    if cached is not None:
        return dict(cached)
    return jar(request).load(request.cookies.get(COOKIE))


def set_session(request: Request, response: Response, data: dict[str, Any]) -> None:
    sessions = jar(request)
    request.state.session = data
    response.set_cookie(
        COOKIE,
        sessions.dump(data),
        max_age=sessions.max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def optional_user(request: Request) -> UserView | None:
    data = session_data(request)
    if not data or "user_id" not in data:
        return None
    with read_only(engine(request)) as session:
        return get_user(session, int(data["user_id"]))


def signed_in(request: Request) -> UserView:
    user = optional_user(request)
    if user is None:
        raise SignInRequired("sign in to continue", next=request.url.path)
    return user


def staff_only(user: Annotated[UserView, Depends(signed_in)]) -> UserView:
    """Staff pages do not exist for residents (404, as for anything not theirs)."""
    if not user.is_staff:
        raise PageNotFound()
    return user


def resident_only(user: Annotated[UserView, Depends(signed_in)]) -> UserView:
    if user.is_staff:
        raise PageNotFound()
    return user


Visitor = Annotated[UserView | None, Depends(optional_user)]
User = Annotated[UserView, Depends(signed_in)]
Staff = Annotated[UserView, Depends(staff_only)]
Resident = Annotated[UserView, Depends(resident_only)]


def check_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    if not csrf_ok(session_data(request), csrf):
        raise Forbidden("This form has expired or did not come from this site: reload the page.")


CsrfChecked = Depends(check_csrf)


def client_key(request: Request) -> str:
    return request.client.host if request.client else "?"
