"""Portal users and who may see which account: the one part of the portal store that the sync
does not write (the web app registers residents; ``civic portal users`` makes staff).

Residents register against an account by proving it is theirs with three facts from their
bill: the account number (any spelling), the last name on the account (a business: its name),
and the amount of their last bill. The last bill is the newest billing period in which the
portal's history holds a service charge (``CHG``) that was not voided; its amount is the sum of
those charges over every service (fees, adjustments and past balances are not part of it: a
late fee posted after a bill is not a new bill). Names are compared folded (case, accents and
apostrophes do not matter). Only records residents may see (eligible, not merged away) can be
registered; every mismatch gets the same answer, so the form tells nothing about an account.

Residents see the accounts they proved (and, when one of them is merged away, the record it
was merged into); staff see every record of their communities, hidden ones included.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from civic.errors import Conflict, InvalidInput, NotFound
from civic.portal.store.normalize import fold, number_query
from civic.portal.store.tables import (
    PortalCommunity,
    PortalCustomer,
    PortalTransaction,
    PortalUser,
    PortalUserAccount,
)
from civic.security import hash_password, verify_password

STAFF_ROLES = ("support", "clerk")
RESIDENT = "resident"
BILL_KINDS = ("CHG",)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,59}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@functools.cache
def _dummy_hash() -> str:
    """A decoy hash, made on first use (hashing is deliberately slow): an unknown login costs
    as much as a wrong password."""
    return hash_password("no-such-user-password")


"""A real hash, so an unknown login costs as much as a wrong password."""


class ProofRefused(InvalidInput):
    """The facts given do not prove an account (always the same words, whatever was wrong)."""

    code = "not_proved"

    def __init__(self) -> None:
        super().__init__(
            "These details do not match an account shown in the portal. Check the account "
            "number, the last name (or business name) and the amount of your last bill, "
            "exactly as printed on it."
        )


@dataclass(frozen=True)
class UserView:
    id: int
    login: str
    role: str
    communities: tuple[str, ...]

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_clerk(self) -> bool:
        return self.role == "clerk"


@dataclass(frozen=True)
class Bill:
    period_end: date
    amount: int


def _view(user: PortalUser) -> UserView:
    return UserView(user.id, user.login, user.role, tuple(user.communities or ()))


def _now() -> datetime:
    return datetime.now(UTC)


def _taken(session: Session, login: str) -> None:
    if session.scalar(select(PortalUser.id).where(PortalUser.login == login)):
        raise Conflict(f"the sign-in name {login!r} is taken", field="login")


def add_staff_user(
    session: Session, login: str, password: str, *, role: str, communities: Sequence[str]
) -> UserView:
    """A staff user (``support`` or ``clerk``) of communities the portal store knows."""
    login = login.strip().lower()
    if not _USERNAME.match(login):
        raise InvalidInput(
            "username: 2-60 characters, lower-case letters, digits and . _ @ -", field="login"
        )
    if role not in STAFF_ROLES:
        raise InvalidInput(f"role: {role!r} is not one of {', '.join(STAFF_ROLES)}", field="role")
    codes = sorted({c.strip().upper() for c in communities if c.strip()})
    if not codes:
        raise InvalidInput("communities: name at least one community", field="communities")
    known = set(session.scalars(select(PortalCommunity.code)))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise NotFound(
            f"no community {', '.join(unknown)} in the portal store (known: "
            f"{', '.join(sorted(known)) or 'none — run `civic sync run` first'})",
            communities=unknown,
        )
    _taken(session, login)
    user = PortalUser(
        login=login,
        password_hash=hash_password(password),
        role=role,
        communities=codes,
        created_at=_now(),
    )
    session.add(user)
    session.flush()
    return _view(user)


def last_bill(session: Session, customer_id: int) -> Bill | None:
    """The customer's last bill as the portal knows it (see the module's docstring)."""
    rows = session.execute(
        select(
            PortalTransaction.id,
            PortalTransaction.kind,
            PortalTransaction.period_end,
            PortalTransaction.amount_cents,
            PortalTransaction.voids_id,
        ).where(PortalTransaction.customer_id == customer_id)
    ).all()
    voided = {r.voids_id for r in rows if r.kind == "VOID"}
    charges = [r for r in rows if r.kind in BILL_KINDS and r.id not in voided]
    if not charges:
        return None
    newest = max(r.period_end for r in charges)
    return Bill(newest, sum(r.amount_cents for r in charges if r.period_end == newest))


def prove(session: Session, account: str, name: str, bill_amount: int) -> PortalCustomer:
    """The visible record whose account number, name and last bill are those given."""
    number = number_query(account)
    if number is None or number.account is None:
        raise InvalidInput(
            "account number: as printed on your bill, for example 004567-01", field="account"
        )
    wanted = fold(name)
    for c in session.scalars(
        select(PortalCustomer)
        .where(PortalCustomer.account_number == number.account, PortalCustomer.visible)
        .order_by(PortalCustomer.id)
    ):
        names = {fold(c.business_name)} if c.business_name else {fold(c.last_name)}
        bill = last_bill(session, c.id)
        if wanted and wanted in names and bill is not None and bill.amount == bill_amount:
            return c
    raise ProofRefused()


def _link(session: Session, user_id: int, customer: PortalCustomer) -> None:
    if session.get(PortalUserAccount, (user_id, customer.id)) is not None:
        raise Conflict(
            f"account {customer.account_number} is already linked to your sign-in",
            account=customer.account_number,
        )
    session.add(
        PortalUserAccount(
            user_id=user_id,
            customer_id=customer.id,
            community=customer.community,
            account_number=customer.account_number,
            linked_at=_now(),
        )
    )
    session.flush()


def register_resident(
    session: Session, email: str, password: str, *, account: str, name: str, bill_amount: int
) -> tuple[UserView, PortalCustomer]:
    """A resident's sign-in (their e-mail address), linked to the account they proved."""
    login = email.strip().lower()
    if not _EMAIL.match(login) or len(login) > 120:
        raise InvalidInput("e-mail: an address such as jane@example.com", field="email")
    customer = prove(session, account, name, bill_amount)
    _taken(session, login)
    user = PortalUser(
        login=login,
        password_hash=hash_password(password),
        role=RESIDENT,
        communities=[],
        created_at=_now(),
    )
    session.add(user)
    session.flush()
    _link(session, user.id, customer)
    return _view(user), customer


def link_account(
    session: Session, user: UserView, *, account: str, name: str, bill_amount: int
) -> PortalCustomer:
    """Another account for a resident who holds several, proved the same way."""
    if user.role != RESIDENT:
        raise InvalidInput("only residents link accounts to their sign-in")
    customer = prove(session, account, name, bill_amount)
    _link(session, user.id, customer)
    return customer


def authenticate(session: Session, login: str, password: str) -> UserView | None:
    user = session.scalar(select(PortalUser).where(PortalUser.login == login.strip().lower()))
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password) or user.disabled_at is not None:
        return None
    return _view(user)


def get_user(session: Session, user_id: int) -> UserView | None:
    user = session.get(PortalUser, user_id)
    if user is None or user.disabled_at is not None:
        return None
    return _view(user)


def list_users(session: Session, role: str | None = None) -> list[UserView]:
    stmt = select(PortalUser).where(PortalUser.disabled_at.is_(None)).order_by(PortalUser.login)
    if role is not None:
        stmt = stmt.where(PortalUser.role == role)
    return [_view(u) for u in session.scalars(stmt)]


def disable_user(session: Session, login: str) -> None:
    user = session.scalar(select(PortalUser).where(PortalUser.login == login.strip().lower()))
    if user is None or user.disabled_at is not None:
        raise NotFound(f"no portal user {login!r}", login=login)
    user.disabled_at = _now()


@dataclass(frozen=True)
class LinkedAccount:
    """One account a resident proved: the record they see (None when the portal does not
    show it now) and, when it was merged away, the number it was merged from."""

    account_number: str
    community: str
    customer: PortalCustomer | None
    merged_from: str | None = None


def resident_accounts(session: Session, user: UserView) -> list[LinkedAccount]:
    """Every account the resident proved, in the order they linked them; a merged-away one
    leads to the record it was merged into (same community)."""
    out: list[LinkedAccount] = []
    seen: set[int] = set()
    links = session.scalars(
        select(PortalUserAccount)
        .where(PortalUserAccount.user_id == user.id)
        .order_by(PortalUserAccount.linked_at, PortalUserAccount.customer_id)
    )
    for link in links:
        row = session.get(PortalCustomer, link.customer_id)
        merged_from = None
        if row is not None and row.merged_into_account:
            merged_from = row.account_number
            row = session.scalar(
                select(PortalCustomer).where(
                    PortalCustomer.community == row.community,
                    PortalCustomer.account_number == row.merged_into_account,
                )
            )
        if row is not None and row.id in seen:
            continue
        shown = row if row is not None and row.visible else None
        if shown is not None:
            seen.add(shown.id)
        number = shown.account_number if shown is not None else link.account_number
        out.append(LinkedAccount(number, link.community, shown, merged_from))
    return out


def viewable(
    session: Session, user: UserView, community: str, account_number: str
) -> PortalCustomer | None:
    """The record at (community, account number) if ``user`` may see it, else None (the web
    app answers 404 either way, so nobody learns what exists beyond their reach)."""
    row = session.scalar(
        select(PortalCustomer).where(
            PortalCustomer.community == community,
            PortalCustomer.account_number == account_number,
        )
    )
    if row is None:
        return None
    if user.is_staff:
        return row if row.community in user.communities else None
    if user.role != RESIDENT:
        return None
    for linked in resident_accounts(session, user):
        if linked.customer is not None and linked.customer.id == row.id:
            return row
    return None
