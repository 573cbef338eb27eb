"""What the sync hands the store: the current state of one customer, as frozen values.

The sync builds a ``CustomerRecord`` from the ledger (directly or from its HTTP API); the store
keeps it and derives the rest (eligibility, payment status, search text). ``content_hash`` is
what lets an idempotent re-apply leave an unchanged customer's rows alone.
"""

from __future__ import annotations

import hashlib
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
    """A community as the ledger describes it to the sync; ``ineligible_services`` is None
    when the source cannot tell (the HTTP feed), so the portal's own setting stands."""

    code: str
    name: str
    ineligible_services: tuple[str, ...] | None = None


def content_hash(record: CustomerRecord) -> str:
    """A stable digest of everything the store keeps of ``record``: the ``repr`` of its values
    as plain tuples (str, int, bool, None and date print the same way every time)."""
    r = record
    flat = (
        r.id, r.community, r.account_number, r.first_name, r.middle_name, r.last_name, r.suffix,
        r.business_name, r.service_address, r.mailing_address, r.city, r.state, r.zip, r.phone,
        r.email, r.status, r.online_access, r.master_account, r.merged_into_account, r.alerts,
        r.version,
        tuple(
            (
                s.service, s.name, s.balance, s.unapplied_credit,
                tuple((p.period_end, p.age, p.charged, p.outstanding) for p in s.periods),
            )
            for s in r.services
        ),
        tuple(
            (
                t.id, t.service, t.period_end, t.kind, t.amount, t.txn_date, t.description,
                t.reference, t.voids_id,
            )
            for t in r.transactions
        ),
    )  # fmt: skip
    return hashlib.sha256(repr(flat).encode()).hexdigest()


def months_back(day: date, months: int = HISTORY_MONTHS) -> date:
    """``day`` moved back ``months`` months (the 31st becomes the month's last day)."""
    import calendar

    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
