"""Staff pages: sign in and out, merge with preview, the merge history and undo.

Shell only: each handler opens a session, calls a service (``civic.merge``, ``civic.ledger``)
and renders a template; refused operations come back as ``CivicError`` and are shown as a page.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from civic.api.staff.auth import (
    CsrfChecked,
    SignInRequired,
    Staff,
    limiter,
    require_supervisor,
    session_data,
    sessions,
)
from civic.db import read_only, transaction
from civic.errors import CivicError, CustomerNotFound, Forbidden, NotFound
from civic.ledger import service
from civic.ledger.parsing import parse_date
from civic.ledger.staff import StaffView, authenticate, end_sessions
from civic.ledger.tables import Community, Customer
from civic.merge.apply import (
    account_numbers,
    apply_merge,
    get_merge,
    list_merges,
    undo_merge,
)
from civic.merge.plan import MERGE_FIELDS, make_plan
from civic.money import format_cents

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
TEMPLATES.env.filters["money"] = format_cents
router = APIRouter(prefix="/staff", include_in_schema=False)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    data = session_data(request) or {}
    context.setdefault("user", None)
    return TEMPLATES.TemplateResponse(
        request, f"staff/{name}", {"csrf": data.get("csrf", ""), **context}, status_code=status_code
    )


def error_page(request: Request, err: CivicError) -> Response:
    """Every refused request under /staff, as a page (or a redirect to sign in)."""
    if isinstance(err, SignInRequired):
        target = str(err.details.get("next") or "/staff/")
        return RedirectResponse(f"/staff/login?next={target}", status_code=303)
    return render(request, "error.html", status_code=err.status, error=err)


def _customer(session: Session, user: StaffView, account: str) -> Customer:
    """A customer in one of the user's communities; anything else is not found (404), so staff
    cannot learn what other communities hold."""
    matches = [c for code in user.communities for c in _try_get(session, account, code)]
    if not matches:
        raise CustomerNotFound(account)
    if len(matches) > 1:
        raise NotFound(
            f"account {account} exists in several of your communities: add ?community=CODE",
            account=account,
        )
    return matches[0]


def _try_get(session: Session, account: str, code: str) -> list[Customer]:
    try:
        comm = service.get_community(session, code)
        return [service.get_customer(session, account, comm)]
    except NotFound:
        return []


def _community_code(session: Session, community_id: int) -> str:
    comm = session.get(Community, community_id)
    return comm.code if comm else ""


# -- sign in ------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/staff/") -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next))


def _safe_next(target: str) -> str:
    return target if target.startswith("/staff") and "//" not in target else "/staff/"


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/staff/",
) -> Response:
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        # A sign-in form posted from another site (login CSRF) is refused.
        raise Forbidden("sign in from this site's own sign-in page")
    client = request.client.host if request.client else "?"
    key = f"{username.strip().lower()}|{client}"
    rate = limiter(request)
    if not rate.allow(key):
        return render(
            request,
            "login.html",
            status_code=429,
            next=_safe_next(next),
            message=f"Too many attempts: try again in {rate.retry_after(key)} seconds.",
        )
    with read_only(_engine(request)) as session:
        user = authenticate(session, username, password)
    if user is None:
        return render(
            request,
            "login.html",
            status_code=401,
            next=_safe_next(next),
            message="Wrong username or password.",
        )
    rate.reset(key)
    jar = sessions(request)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        jar.cookie,
        jar.dump(jar.new(staff_id=user.id, epoch=user.session_epoch)),
        max_age=jar.max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/staff",
    )
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request, user: Staff) -> Response:
    with transaction(_engine(request)) as session:
        end_sessions(session, user.id)
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(sessions(request).cookie, path="/staff")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: Staff) -> HTMLResponse:
    return render(request, "home.html", user=user)


# -- merge ------------------------------------------------------------------------------------


def _date(value: str | None, name: str) -> date | None:
    return parse_date(value, name) if value else None


@router.get("/merge", response_class=HTMLResponse)
def merge_preview(
    request: Request,
    user: Staff,
    source: str,
    into: str,
    use_source: Annotated[list[str] | None, Query()] = None,
    orders_from: str | None = None,
    orders_to: str | None = None,
    pair: int | None = None,
) -> HTMLResponse:
    with read_only(_engine(request)) as session:
        src, dst = _customer(session, user, source), _customer(session, user, into)
        plan = make_plan(
            session,
            src,
            dst,
            take_from_source=tuple(f for f in use_source or () if f),
            orders_from=_date(orders_from, "orders_from"),
            orders_to=_date(orders_to, "orders_to"),
        )
        views = (service.to_view(session, src), service.to_view(session, dst))
    return render(
        request,
        "merge_preview.html",
        user=user,
        plan=plan,
        source=views[0],
        survivor=views[1],
        fields=MERGE_FIELDS,
        use_source=set(use_source or ()),
        orders_from=orders_from or "",
        orders_to=orders_to or "",
        pair=pair,
    )


@router.post("/merge", dependencies=[CsrfChecked])
def merge_apply(
    request: Request,
    user: Staff,
    source: Annotated[str, Form()],
    into: Annotated[str, Form()],
    use_source: Annotated[list[str] | None, Form()] = None,
    orders_from: Annotated[str, Form()] = "",
    orders_to: Annotated[str, Form()] = "",
    force: Annotated[bool, Form()] = False,
    reason: Annotated[str, Form()] = "",
    pair: Annotated[int | None, Form()] = None,
) -> Response:
    if force:
        require_supervisor(user)
    with transaction(_engine(request)) as session:
        src, dst = _customer(session, user, source), _customer(session, user, into)
        result = apply_merge(
            session,
            src,
            dst,
            actor=user.username,
            take_from_source=tuple(f for f in use_source or () if f),
            orders_from=_date(orders_from, "orders_from"),
            orders_to=_date(orders_to, "orders_to"),
            force=force,
            reason=reason or None,
            pair_id=pair,
        )
    return RedirectResponse(f"/staff/merges/{result.merge_id}", status_code=303)


def _merge_rows(session: Session, user: StaffView, merges: list[Any]) -> list[dict[str, Any]]:
    rows = []
    accounts = account_numbers(session, merges)
    for m in merges:
        code = _community_code(session, m.community_id)
        if not user.may_see(code):
            continue
        rows.append(
            {
                "merge": m,
                "community": code,
                "source": accounts[m.source_id],
                "survivor": accounts[m.survivor_id],
            }
        )
    return rows


@router.get("/merges", response_class=HTMLResponse)
def merges(request: Request, user: Staff) -> HTMLResponse:
    with read_only(_engine(request)) as session:
        ids = [c.id for c in session.scalars(
            select(Community).where(Community.code.in_(user.communities))
        )]  # fmt: skip
        rows = _merge_rows(session, user, list_merges(session, 200, community_ids=ids))
    return render(request, "merges.html", user=user, rows=rows)


@router.get("/merges/{merge_id}", response_class=HTMLResponse)
def merge_detail(request: Request, user: Staff, merge_id: int) -> HTMLResponse:
    with read_only(_engine(request)) as session:
        rows = _merge_rows(session, user, [get_merge(session, merge_id)])
        if not rows:
            raise NotFound(f"no merge with id {merge_id}", merge_id=merge_id)
    return render(request, "merge_detail.html", user=user, row=rows[0])


@router.post("/merges/{merge_id}/undo", dependencies=[CsrfChecked])
def merge_undo(request: Request, user: Staff, merge_id: int) -> Response:
    require_supervisor(user)
    with transaction(_engine(request)) as session:
        if not _merge_rows(session, user, [get_merge(session, merge_id)]):
            raise NotFound(f"no merge with id {merge_id}", merge_id=merge_id)
        undo_merge(session, merge_id, actor=user.username)
    return RedirectResponse(f"/staff/merges/{merge_id}", status_code=303)
