"""Residents' pages and signing in: sign in and out, register against an account, link
another, the list of one's accounts, and the account page (staff open it too).

Shell only: each handler opens a session on the portal store, calls ``civic.portal.store``
and renders a template.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civic.db import read_only, transaction
from civic.errors import CivicError, InvalidInput
from civic.money import AmountError, parse_amount
from civic.portal.store import users
from civic.portal.store.normalize import number_query
from civic.portal.store.read import stored_record
from civic.portal.web import views
from civic.portal.web.auth import (
    CsrfChecked,
    Resident,
    User,
    Visitor,
    client_key,
    engine,
    jar,
    limiter,
    set_session,
)
from civic.portal.web.errors import PageNotFound, ReadOnlyPortal
from civic.portal.web.render import render, safe_next

router = APIRouter(include_in_schema=False)
WRITES = ["POST", "PUT", "PATCH", "DELETE"]


def _signed_in_response(request: Request, user: users.UserView, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_session(request, response, jar(request).new(user_id=user.id))
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: Visitor) -> Response:
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.is_staff:
        return RedirectResponse("/staff/search", status_code=303)
    with read_only(engine(request)) as session:
        linked = users.resident_accounts(session, user)
    return render(request, "home.html", user=user, linked=linked)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=safe_next(next))


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    login: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    key = f"{login.strip().lower()}|{client_key(request)}"
    rate = limiter(request, "login")
    if not rate.allow(key):
        message = f"Too many attempts: try again in {rate.retry_after(key)} seconds."
        return render(request, "login.html", 429, next=safe_next(next), message=message)
    with read_only(engine(request)) as session:
        user = users.authenticate(session, login, password)
    if user is None:
        return render(
            request, "login.html", 401, next=safe_next(next), message="Wrong e-mail, username "
            "or password.", login=login
        )  # fmt: skip
    rate.reset(key)
    return _signed_in_response(request, user, safe_next(next))


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie("civic_portal", path="/")
    return response


def _amount(text: str) -> int:
    try:
        return int(parse_amount(text))
    except AmountError as exc:
        raise InvalidInput(
            "last bill amount: as printed on your bill, for example 85.20", field="amount"
        ) from exc


def _proof_allowed(request: Request, account: str) -> str | None:
    """Proving an account is rate limited per visitor and per account number."""
    number = number_query(account)
    keys = [f"ip|{client_key(request)}", f"account|{number.account if number else account}"]
    rate = limiter(request, "proof")
    for key in keys:
        if not rate.allow(key):
            return f"Too many attempts: try again in {rate.retry_after(key)} seconds."
    return None


@router.get("/register", response_class=HTMLResponse)
def register_form(request: Request, user: Visitor) -> Response:
    if user is not None:
        return RedirectResponse("/", status_code=303)
    return render(request, "register.html", form={})


@router.post("/register", dependencies=[CsrfChecked])
def register(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    account: Annotated[str, Form()],
    last_name: Annotated[str, Form()],
    amount: Annotated[str, Form()],
) -> Response:
    form = {"email": email, "account": account, "last_name": last_name, "amount": amount}
    busy = _proof_allowed(request, account)
    if busy:
        return render(request, "register.html", 429, form=form, message=busy)
    try:
        with transaction(engine(request)) as session:
            user, _customer = users.register_resident(
                session, email, password, account=account, name=last_name,
                bill_amount=_amount(amount),
            )  # fmt: skip
    except CivicError as err:
        return render(request, "register.html", err.status, form=form, message=err.message)
    return _signed_in_response(request, user, "/")


@router.get("/link", response_class=HTMLResponse)
def link_form(request: Request, user: Resident) -> HTMLResponse:
    return render(request, "link.html", user=user, form={})


@router.post("/link", dependencies=[CsrfChecked])
def link(
    request: Request,
    user: Resident,
    account: Annotated[str, Form()],
    last_name: Annotated[str, Form()],
    amount: Annotated[str, Form()],
) -> Response:
    form = {"account": account, "last_name": last_name, "amount": amount}
    busy = _proof_allowed(request, account)
    if busy:
        return render(request, "link.html", 429, user=user, form=form, message=busy)
    try:
        with transaction(engine(request)) as session:
            users.link_account(
                session, user, account=account, name=last_name, bill_amount=_amount(amount)
            )
    except CivicError as err:
        return render(request, "link.html", err.status, user=user, form=form, message=err.message)
    return RedirectResponse("/", status_code=303)


@router.get("/accounts/{community}/{account}", response_class=HTMLResponse)
def account_page(request: Request, user: User, community: str, account: str) -> Response:
    number = number_query(account)
    if number is None or number.account is None:
        raise PageNotFound()
    if number.account != account:
        return RedirectResponse(f"/accounts/{community}/{number.account}", status_code=303)
    with read_only(engine(request)) as session:
        row = users.viewable(session, user, community, number.account)
        if row is None:
            raise PageNotFound()
        record = stored_record(session, row.id)
        if record is None:
            raise PageNotFound()
        synced_on = row.synced_at.date() if row.synced_at else date.today()
        facts: dict[str, object] = {
            "payment_status": views.PAYMENT_STATUS.get(row.payment_status, row.payment_status),
            "status_code": row.payment_status,
            "last_payment_date": row.last_payment_date,
            "last_payment": row.last_payment_cents,
            "synced_at": row.synced_at,
            "visible": row.visible,
            "ineligible_reason": row.ineligible_reason,
            "balance": row.balance_cents,
            "bill": users.last_bill(session, row.id),
        }
    show_history = not user.is_staff or user.is_clerk
    rows, total = views.aged(record)
    return render(
        request,
        "account.html",
        user=user,
        record=record,
        facts=facts,
        aged=rows,
        total=total,
        ages=views.AGES,
        history=views.history(record) if show_history else None,
        chart=views.chart(record, synced_on) if show_history else None,
        alerts=record.alerts if user.is_clerk else None,
        services={s.service: s.name for s in record.services},
    )


@router.api_route("/accounts", methods=WRITES)
@router.api_route("/accounts/{rest:path}", methods=WRITES)
def refuse_changes(request: Request) -> Response:
    """The portal never edits a record: any attempt is told where corrections are made."""
    raise ReadOnlyPortal(request.method, request.url.path)
