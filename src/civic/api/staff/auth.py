"""Staff sign-in for the web pages: a signed, HttpOnly session cookie holding the staff user's
id and a CSRF token; every form posts the token back; sign-in attempts are rate limited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request
from sqlalchemy.engine import Engine

from civic.db import read_only
from civic.errors import CivicError, Forbidden
from civic.ledger.staff import StaffView, get_staff
from civic.security import RateLimiter, Sessions, csrf_ok


class SignInRequired(CivicError):
    """No valid session: the page handler answers with a redirect to the sign-in page."""

    status = 303
    code = "sign_in"


def sessions(request: Request) -> Sessions:
    s: Sessions = request.app.state.staff_sessions
    return s


def limiter(request: Request) -> RateLimiter:
    r: RateLimiter = request.app.state.staff_login_limiter
    return r


def session_data(request: Request) -> dict[str, Any] | None:
    return sessions(request).load(request.cookies.get(sessions(request).cookie))


def current_staff(request: Request) -> StaffView:
    data = session_data(request)
    if not data or "staff_id" not in data:
        raise SignInRequired("sign in to continue", next=request.url.path)
    engine: Engine = request.app.state.engine
    with read_only(engine) as session:
        user = get_staff(session, int(data["staff_id"]))
    if user is None:
        raise SignInRequired("your account is no longer enabled", next=request.url.path)
    if data.get("epoch") != user.session_epoch:
        raise SignInRequired("you signed out: sign in again", next=request.url.path)
    return user


Staff = Annotated[StaffView, Depends(current_staff)]


def check_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Every form that changes something carries the session's CSRF token."""
    if not csrf_ok(session_data(request), csrf):
        raise Forbidden("the form has expired or did not come from this site: reload the page")


CsrfChecked = Depends(check_csrf)


def require_supervisor(user: StaffView) -> None:
    if not user.is_supervisor:
        raise Forbidden("only a supervisor may do this")
