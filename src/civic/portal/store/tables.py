"""The portal store's tables (SQLAlchemy 2), with their own metadata: a separate database.

Customer ids are the ledger's ids (the sync copies them), so a row here and its ledger record
are easy to tell apart in support work. Money is integer cents, as in the ledger. The search
index (``portal_search``) differs by backend and is created by the migration: an FTS5 trigram
table on SQLite, a table with ``pg_trgm`` GIN indexes on PostgreSQL (``index.py``).

Every table is written only by the sync except the portal's users (``portal_users``,
``portal_user_accounts``, at the end), which the web app and ``civic portal users`` write
(``users.py``) and the sync never touches.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from civic.db import UTCDateTime, new_metadata

Id = BigInteger().with_variant(Integer(), "sqlite")

PAYMENT_STATUSES = ("paid", "credit", "due", "past_due")
USER_ROLES = ("resident", "support", "clerk")


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class PortalCommunity(Base):
    """A community as the portal knows it, with its eligibility rules and sync schedule."""

    __tablename__ = "portal_communities"
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    hide_inactive: Mapped[bool] = mapped_column(Boolean, default=True)
    require_online_access: Mapped[bool] = mapped_column(Boolean, default=True)
    require_charges: Mapped[bool] = mapped_column(Boolean, default=True)
    # Services whose charges and balances do not make a customer eligible.
    ineligible_services: Mapped[list[Any]] = mapped_column(default=list)
    sync_interval_seconds: Mapped[int] = mapped_column(Integer, default=1)


class PortalCustomer(Base):
    __tablename__ = "portal_customers"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    community: Mapped[str] = mapped_column(String(20))
    account_number: Mapped[str] = mapped_column(String(9))
    account_packed: Mapped[str] = mapped_column(String(8))
    account_location: Mapped[int] = mapped_column(Integer)
    first_name: Mapped[str | None] = mapped_column(String(50))
    middle_name: Mapped[str | None] = mapped_column(String(50))
    last_name: Mapped[str | None] = mapped_column(String(60))
    suffix: Mapped[str | None] = mapped_column(String(10))
    business_name: Mapped[str | None] = mapped_column(String(120))
    display_name: Mapped[str] = mapped_column(String(200))
    service_address: Mapped[str | None] = mapped_column(String(120))
    mailing_address: Mapped[str | None] = mapped_column(String(120))
    city: Mapped[str | None] = mapped_column(String(60))
    state: Mapped[str | None] = mapped_column(String(2))
    zip: Mapped[str | None] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_digits: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(8))
    online_access: Mapped[bool] = mapped_column(Boolean)
    master_account: Mapped[str | None] = mapped_column(String(9))
    merged_into_account: Mapped[str | None] = mapped_column(String(9))
    alerts: Mapped[list[Any]] = mapped_column(default=list)
    eligible: Mapped[bool] = mapped_column(Boolean)
    ineligible_reason: Mapped[str | None] = mapped_column(String(30))
    visible: Mapped[bool] = mapped_column(Boolean)
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    payment_status: Mapped[str] = mapped_column(String(10))
    last_payment_date: Mapped[date | None] = mapped_column(Date)
    last_payment_cents: Mapped[int | None] = mapped_column(BigInteger)
    ledger_version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    synced_seq: Mapped[int] = mapped_column(BigInteger)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        Index("ix_portal_customers_account", "account_number", "community"),
        Index("ix_portal_customers_packed", "account_packed"),
        Index("ix_portal_customers_location", "account_location"),
        Index("ix_portal_customers_phone", "phone_digits"),
        Index("ix_portal_customers_merged", "merged_into_account"),
    )


class PortalServiceBalance(Base):
    __tablename__ = "portal_service_balances"
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("portal_customers.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    unapplied_credit_cents: Mapped[int] = mapped_column(BigInteger)


class PortalPeriodBalance(Base):
    """One billing period of one service, aged: ``age`` 0 is the newest period."""

    __tablename__ = "portal_period_balances"
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("portal_customers.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(10), primary_key=True)
    period_end: Mapped[date] = mapped_column(Date, primary_key=True)
    age: Mapped[int] = mapped_column(Integer)
    charged_cents: Mapped[int] = mapped_column(BigInteger)
    outstanding_cents: Mapped[int] = mapped_column(BigInteger)


class PortalTransaction(Base):
    """A ledger row of the last 24 months (the ledger's id)."""

    __tablename__ = "portal_transactions"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    customer_id: Mapped[int] = mapped_column(ForeignKey("portal_customers.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(10))
    period_end: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(4))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    txn_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(40))
    voids_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_portal_transactions_customer", "customer_id", "txn_date"),)


class PortalWord(Base):
    """Words of names and addresses with how many customers use them: the typo dictionary."""

    __tablename__ = "portal_words"
    word: Mapped[str] = mapped_column(String(60), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer)


class SyncState(Base):
    """The one row of sync bookkeeping: the cursor moves in the same transaction as its rows."""

    __tablename__ = "sync_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cursor: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str | None] = mapped_column(String(200))
    snapshot_seq: Mapped[int | None] = mapped_column(BigInteger)
    snapshot_mark: Mapped[str | None] = mapped_column(String(60))
    snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    latest_seq: Mapped[int | None] = mapped_column(BigInteger)
    lag_changes: Mapped[int | None] = mapped_column(BigInteger)
    lag_seconds: Mapped[float | None] = mapped_column()
    applied_total: Mapped[int] = mapped_column(BigInteger, default=0)


# -- portal users: the one part of the store the sync does not write --------------------------


class PortalUser(Base):
    """Someone who signs in to the portal web app. A ``resident`` registered themself and sees
    the accounts linked to them (``PortalUserAccount``); ``support`` and ``clerk`` are staff,
    made from the command line, who see the ``communities`` listed (support: names and
    balances; clerk: also history and alert messages)."""

    __tablename__ = "portal_users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    login: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    communities: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (CheckConstraint(f"role IN {USER_ROLES!r}", name="role"),)


class PortalUserAccount(Base):
    """An account a resident proved is theirs. ``customer_id`` is the synced customer's id but
    deliberately not a foreign key: the sync replaces customer rows freely, and a link must
    neither block it nor vanish with it (a link to a missing or hidden record shows nothing)."""

    __tablename__ = "portal_user_accounts"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("portal_users.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community: Mapped[str] = mapped_column(String(20))
    account_number: Mapped[str] = mapped_column(String(9))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    __table_args__ = (Index("ix_portal_user_accounts_customer", "customer_id"),)
