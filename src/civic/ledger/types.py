"""Frozen values the services return: what the CLI, API and later the sync render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from civic.money import Cents

CUSTOMER_FIELDS: tuple[str, ...] = (
    "account_number",
    "first_name",
    "middle_name",
    "last_name",
    "suffix",
    "business_name",
    "service_address",
    "mailing_address",
    "city",
    "state",
    "zip",
    "phone",
    "email",
    "status",
    "online_access",
    "created_date",
)
"""The canonical customer field names, shared by import, API, exports and commands.
An external reference of type T is written ``ref:T``."""

EDITABLE_FIELDS: tuple[str, ...] = tuple(f for f in CUSTOMER_FIELDS if f != "account_number") + (
    "collection_code",
    "master_account",
)


@dataclass(frozen=True)
class ExternalRef:
    ref_type: str
    value: str
    normalized: str


@dataclass(frozen=True)
class CustomerView:
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
    collection_code: str | None
    master_account: str | None
    created_date: date | None
    created_at: datetime
    updated_at: datetime
    version: int
    refs: tuple[ExternalRef, ...] = ()
    alerts: tuple[str, ...] = ()
    merged_into: str | None = None
    """The survivor's account number, when a merge made this record inactive."""

    @property
    def display_name(self) -> str:
        if self.business_name:
            return self.business_name
        parts = [self.first_name, self.middle_name, self.last_name, self.suffix]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class TransactionView:
    id: int
    account_number: str
    service: str
    period_end: date
    kind: str
    amount: Cents
    txn_date: date
    description: str | None
    reference: str | None
    voids_id: int | None
    posted_by: str
    posted_at: datetime


@dataclass(frozen=True)
class PeriodBalance:
    """One billing period of one service: what was billed in it and what of that is unpaid
    after credits are applied oldest period first. ``age`` is 0 for the newest period."""

    period_end: date
    age: int
    charged: Cents
    outstanding: Cents


@dataclass(frozen=True)
class ServiceBalance:
    service: str
    name: str
    balance: Cents
    unapplied_credit: Cents
    periods: tuple[PeriodBalance, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BalanceReport:
    account_number: str
    as_of: date | None
    total: Cents
    services: tuple[ServiceBalance, ...]


@dataclass(frozen=True)
class Change:
    """One entry of the change feed."""

    seq: int
    at: datetime
    community_id: int
    customer_id: int
    entity: str
    entity_id: int | None
    op: str
