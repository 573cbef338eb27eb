"""The JSON the API answers with, as Pydantic models (they also make the OpenAPI document).

Money is a decimal string such as ``"1234.56"`` (``civic.money.to_decimal``), never a float.
Customer fields use the canonical names of ``civic.ledger.types.CUSTOMER_FIELDS``.
Timestamps are ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from civic.ledger.types import (
    CUSTOMER_FIELDS,
    BalanceReport,
    Change,
    CustomerView,
    PeriodBalance,
    ServiceBalance,
    TransactionView,
)
from civic.money import to_decimal

Money = Annotated[
    str,
    Field(
        pattern=r"^-?\d+\.\d{2}$",
        examples=["1234.56"],
        description="Dollars as a decimal string with two places (negative for a credit).",
    ),
]


def money(cents: int) -> str:
    return str(to_decimal(cents))


def utc(value: datetime) -> datetime:
    """Every stamp the ledger writes is UTC; SQLite returns them without a zone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class ExternalRefOut(BaseModel):
    type: str = Field(description="Reference type, e.g. ssr or parcel.")
    value: str


class CustomerOut(BaseModel):
    """One customer account."""

    id: int
    community: str = Field(description="Community code.")
    account_number: str = Field(examples=["001234-01"])
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
    status: str = Field(description="active, inactive or closed.")
    online_access: bool
    created_date: date | None
    collection_code: str | None
    master_account: str | None = Field(description="Consolidated-billing master account.")
    merged_into: str | None = Field(
        default=None, description="The survivor's account number, if a merge retired this one."
    )
    version: int = Field(description="Incremented by every change to the account.")
    refs: list[ExternalRefOut]
    alerts: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_view(cls, view: CustomerView) -> CustomerOut:
        return cls(
            id=view.id,
            community=view.community,
            **{f: getattr(view, f) for f in CUSTOMER_FIELDS},
            collection_code=view.collection_code,
            master_account=view.master_account,
            merged_into=view.merged_into,
            version=view.version,
            refs=[ExternalRefOut(type=r.ref_type, value=r.value) for r in view.refs],
            alerts=list(view.alerts),
            created_at=utc(view.created_at),
            updated_at=utc(view.updated_at),
        )


class Page(BaseModel):
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null on the last.")
    next: str | None = Field(description="Path and query of the next page; null on the last.")


class CustomerPage(Page):
    total: int = Field(description="How many customers match, over all pages.")
    customers: list[CustomerOut]


class TransactionOut(BaseModel):
    id: int
    service: str
    period_end: date
    kind: str = Field(description="CHG, PAY, PADJ, FEE or VOID.")
    amount: Money = Field(description="Effect on the balance: negative for payments.")
    txn_date: date
    description: str | None
    reference: str | None
    voids_id: int | None = Field(description="For a VOID: the payment it reverses.")
    posted_by: str
    posted_at: datetime

    @classmethod
    def from_view(cls, t: TransactionView) -> TransactionOut:
        return cls(
            id=t.id,
            service=t.service,
            period_end=t.period_end,
            kind=t.kind,
            amount=money(t.amount),
            txn_date=t.txn_date,
            description=t.description,
            reference=t.reference,
            voids_id=t.voids_id,
            posted_by=t.posted_by,
            posted_at=utc(t.posted_at),
        )


class TransactionPage(Page):
    customer_id: int
    account_number: str
    transactions: list[TransactionOut] = Field(description="Newest first.")


class PeriodOut(BaseModel):
    period_end: date
    age: int = Field(description="0 for the newest period, 1 for the one before, ...")
    charged: Money
    outstanding: Money

    @classmethod
    def from_view(cls, p: PeriodBalance) -> PeriodOut:
        return cls(
            period_end=p.period_end,
            age=p.age,
            charged=money(p.charged),
            outstanding=money(p.outstanding),
        )


class ServiceBalanceOut(BaseModel):
    service: str
    name: str
    balance: Money
    unapplied_credit: Money = Field(description="Credit beyond all charges (0.00 or negative).")
    periods: list[PeriodOut] = Field(description="Newest first.")

    @classmethod
    def from_view(cls, s: ServiceBalance) -> ServiceBalanceOut:
        return cls(
            service=s.service,
            name=s.name,
            balance=money(s.balance),
            unapplied_credit=money(s.unapplied_credit),
            periods=[PeriodOut.from_view(p) for p in s.periods],
        )


class BalanceOut(BaseModel):
    """Balances by service and billing period, aged: credits pay the oldest period first."""

    customer_id: int
    account_number: str
    as_of: date | None
    total: Money
    services: list[ServiceBalanceOut]

    @classmethod
    def from_report(cls, customer_id: int, report: BalanceReport) -> BalanceOut:
        return cls(
            customer_id=customer_id,
            account_number=report.account_number,
            as_of=report.as_of,
            total=money(report.total),
            services=[ServiceBalanceOut.from_view(s) for s in report.services],
        )


class ChangeOut(BaseModel):
    seq: int
    at: datetime
    community_id: int
    customer_id: int
    entity: str = Field(description="customer, transaction, reading or order.")
    entity_id: int | None
    op: str = Field(description="What happened: add, update, post (a ledger row), ...")

    @classmethod
    def from_view(cls, c: Change) -> ChangeOut:
        return cls(
            seq=c.seq,
            at=utc(c.at),
            community_id=c.community_id,
            customer_id=c.customer_id,
            entity=c.entity,
            entity_id=c.entity_id,
            op=c.op,
        )


class ChangesPage(BaseModel):
    after: int = Field(description="The cursor this page was read after.")
    limit: int
    changes: list[ChangeOut] = Field(description="Oldest first, every seq greater than after.")
    next_after: int = Field(description="Pass as `after` to read on (the last seq returned).")
    latest_seq: int = Field(description="The newest seq in the ledger: how far a reader can go.")
    caught_up: bool = Field(description="True when next_after has reached latest_seq.")
