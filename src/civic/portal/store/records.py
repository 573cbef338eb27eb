"""What the sync hands the store: the current state of one customer, as frozen values.

The sync builds a ``CustomerRecord`` from the ledger (directly or from its HTTP API); the store
keeps it and derives the rest (eligibility, payment status, search text). ``content_hash`` is
what lets an idempotent re-apply leave an unchanged customer's rows alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

HISTORY_MONTHS = 24
"""The portal keeps the transactions of this many months."""


@dataclass(frozen=True)
class PeriodRecord:
    period_end: date
    age: int
    charged: int
    outstanding: int


@dataclass(frozen=True)
class ServiceRecord:
    service: str
    name: str
    balance: int
    unapplied_credit: int
    periods: tuple[PeriodRecord, ...] = ()


@dataclass(frozen=True)
class TransactionRecord:
    id: int
    service: str
    period_end: date
    kind: str
    amount: int
    txn_date: date
    description: str | None
    reference: str | None
    voids_id: int | None


@dataclass(frozen=True)
class CustomerRecord:
    """One customer's current state: profile, balances by service and period (periods with
    something outstanding or in the history window), transactions of the window (newest
    first), and the last payment."""

    id: int
    community: str
    account_number: str
    first_name: str | None
    middle_name: str | None
    last_name: str | None
    suffix: str | None
    business_name: str | None
    service_address: str | None
    mailing_address: str | None
    city: str | None
    state: str | None
    zip: str | None
    phone: str | None
    email: str | None
    status: str
    online_access: bool
    master_account: str | None
    merged_into_account: str | None
    alerts: tuple[str, ...]
    version: int
    services: tuple[ServiceRecord, ...]
    transactions: tuple[TransactionRecord, ...]

    @property
    def balance(self) -> int:
        return sum(s.balance for s in self.services)

    @property
    def display_name(self) -> str:
        if self.business_name:
            return self.business_name
        parts = [self.first_name, self.middle_name, self.last_name, self.suffix]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class CommunityInfo:
    """A community as the ledger describes it to the sync (straight from its database, or over
    HTTP from ``GET /api/v1/changes/communities``); ``ineligible_services`` is None when the
    source cannot tell, so the portal's own setting stands."""

    code: str
    name: str
    ineligible_services: tuple[str, ...] | None = None


def txn_fingerprint(ids: Iterable[int]) -> tuple[int, int, int]:
    """(count, sum, sum of squares) of transaction ids: the set of a customer's transactions in
    the window, computable with SQL aggregates on both sides. Ledger rows are append-only (a
    trigger refuses changes to everything but the owner a merge moves), so the ids stand for
    the rows' content."""
    n = total = squares = 0
    for i in ids:
        n += 1
        total += i
        squares += i * i
    return n, total, squares


def content_hash(record: CustomerRecord, fingerprint: tuple[int, int, int] | None = None) -> str:
    """A stable digest of the record's profile, its balance per service and the set of its
    transactions in the window (``txn_fingerprint``; given when the record carries none, as
    the sync's delta path does): the ``repr`` of plain tuples (str, int, bool, None and date
    print the same way every time). The aged periods are not in it: ``apply_records`` compares
    them row by row when the digest is equal, and the delta path need not read the periods of
    the services a change did not touch."""
    r = record
    if fingerprint is None:
        fingerprint = txn_fingerprint(t.id for t in r.transactions)
    flat = (
        r.id, r.community, r.account_number, r.first_name, r.middle_name, r.last_name, r.suffix,
        r.business_name, r.service_address, r.mailing_address, r.city, r.state, r.zip, r.phone,
        r.email, r.status, r.online_access, r.master_account, r.merged_into_account, r.alerts,
        r.version,
        tuple((s.service, s.name, s.balance, s.unapplied_credit) for s in r.services),
        fingerprint,
    )  # fmt: skip
    return hashlib.sha256(repr(flat).encode()).hexdigest()


def period_rows(record: CustomerRecord) -> set[tuple[str, date, int, int, int]]:
    """(service, period end, age, charged, outstanding) of every kept period."""
    return {
        (s.service, p.period_end, p.age, p.charged, p.outstanding)
        for s in record.services
        for p in s.periods
    }


def months_back(day: date, months: int = HISTORY_MONTHS) -> date:
    """``day`` moved back ``months`` months (the 31st becomes the month's last day)."""
    import calendar

    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
