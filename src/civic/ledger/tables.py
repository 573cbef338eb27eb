"""The ledger's tables (SQLAlchemy 2). One schema for SQLite and PostgreSQL.

Ledger rows (``transactions``) are append-only: a correction is a new row. Amounts are signed
integer cents giving each row's effect on the balance: charges and fees add, payments subtract,
a void reverses the payment it points at, an adjustment goes either way.
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
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from civic.db import UTCDateTime, new_metadata

Id = BigInteger().with_variant(Integer(), "sqlite")
"""Primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite."""

STATUSES = ("active", "inactive", "closed")
KINDS = ("CHG", "PAY", "PADJ", "FEE", "VOID")
ORDER_STATUSES = ("active", "closed")


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Community(Base):
    __tablename__ = "communities"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    period_months: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (CheckConstraint("period_months IN (1, 2, 3, 6, 12)", name="period"),)


class Service(Base):
    __tablename__ = "services"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(60))
    certification_periods: Mapped[int] = mapped_column(Integer, default=2)
    portal_eligible: Mapped[bool] = mapped_column(Boolean, default=True)
    __table_args__ = (
        UniqueConstraint("community_id", "code"),
        CheckConstraint("certification_periods >= 0", name="certification_periods"),
    )


class BillingPeriod(Base):
    __tablename__ = "billing_periods"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    period_end: Mapped[date] = mapped_column(Date)
    __table_args__ = (UniqueConstraint("community_id", "period_end"),)


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    account_number: Mapped[str] = mapped_column(String(9))
    location: Mapped[str] = mapped_column(String(6))
    occupant: Mapped[str] = mapped_column(String(2))
    first_name: Mapped[str | None] = mapped_column(String(50))
    middle_name: Mapped[str | None] = mapped_column(String(50))
    last_name: Mapped[str | None] = mapped_column(String(60))
    suffix: Mapped[str | None] = mapped_column(String(10))
    business_name: Mapped[str | None] = mapped_column(String(120))
    service_address: Mapped[str | None] = mapped_column(String(120))
    mailing_address: Mapped[str | None] = mapped_column(String(120))
    city: Mapped[str | None] = mapped_column(String(60))
    state: Mapped[str | None] = mapped_column(String(2))
    zip: Mapped[str | None] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(8), default="active")
    online_access: Mapped[bool] = mapped_column(Boolean, default=True)
    collection_code: Mapped[str | None] = mapped_column(String(10))
    master_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # Set when a merge made this record inactive: its account number leads to the survivor.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    created_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    refs: Mapped[list[CustomerRef]] = relationship(
        back_populates="customer", order_by="CustomerRef.id", cascade="all, delete-orphan"
    )
    alerts: Mapped[list[AlertMessage]] = relationship(
        back_populates="customer", order_by="AlertMessage.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("community_id", "account_number"),
        Index("ix_customers_location", "community_id", "location"),
        Index("ix_customers_last_name", "last_name"),
        Index("ix_customers_merged_into_id", "merged_into_id"),
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        CheckConstraint(
            "coalesce(last_name, '') <> '' OR coalesce(business_name, '') <> ''", name="name"
        ),
    )


class CustomerRef(Base):
    """A typed external reference (social services reference, parcel number, ...)."""

    __tablename__ = "customer_refs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    ref_type: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(60))
    normalized: Mapped[str] = mapped_column(String(60))
    customer: Mapped[Customer] = relationship(back_populates="refs")
    __table_args__ = (
        UniqueConstraint("customer_id", "ref_type", "normalized"),
        Index("ix_customer_refs_lookup", "ref_type", "normalized"),
    )


class AlertMessage(Base):
    __tablename__ = "alert_messages"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(60))
    customer: Mapped[Customer] = relationship(back_populates="alerts")


class Transaction(Base):
    __tablename__ = "transactions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("billing_periods.id"))
    kind: Mapped[str] = mapped_column(String(4))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    txn_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(40))
    voids_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    posted_by: Mapped[str] = mapped_column(String(60))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    import_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    __table_args__ = (
        Index("ix_transactions_customer", "customer_id", "service_id", "period_id"),
        Index("ix_transactions_voids", "voids_id"),
        # The portal sync's window fingerprint reads this index alone (migration 0009).
        Index("ix_transactions_customer_date", "customer_id", "txn_date", "id"),
        CheckConstraint(f"kind IN {KINDS!r}", name="kind"),
        CheckConstraint("kind <> 'PAY' OR amount_cents < 0", name="payment_sign"),
        CheckConstraint("kind <> 'VOID' OR voids_id IS NOT NULL", name="void_target"),
        CheckConstraint("kind = 'VOID' OR voids_id IS NULL", name="void_only"),
    )


class MeterReading(Base):
    __tablename__ = "meter_readings"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    meter_number: Mapped[str] = mapped_column(String(20))
    period_id: Mapped[int] = mapped_column(ForeignKey("billing_periods.id"))
    reading: Mapped[int] = mapped_column(BigInteger)
    read_date: Mapped[date] = mapped_column(Date)
    posted_by: Mapped[str] = mapped_column(String(60))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        Index("ix_meter_readings_meter", "meter_number", "period_id"),
        CheckConstraint("reading >= 0", name="reading"),
    )


class Order(Base):
    """A purchase or service order linked to a customer (seed 003)."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    order_number: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(10), default="service")
    status: Mapped[str] = mapped_column(String(8), default="active")
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        UniqueConstraint("community_id", "order_number"),
        CheckConstraint(f"status IN {ORDER_STATUSES!r}", name="status"),
        CheckConstraint("kind IN ('purchase', 'service')", name="kind"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
    )


class AuditEntry(Base):
    """Who changed what, when, from what to what."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxEntry(Base):
    """The change feed: one row per change the portal could show, written in the same
    transaction as the change. ``seq`` is assigned under a lock (``db.lock_outbox``) so that
    sequence numbers become visible in the order they were issued."""

    __tablename__ = "outbox"
    seq: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    community_id: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(20))
    # Never reuse a sequence number on SQLite, even after old rows are pruned.
    __table_args__ = {"sqlite_autoincrement": True}


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


STAFF_ROLES = ("clerk", "supervisor")


class StaffUser(Base):
    """A member of staff who signs in to the ledger's web pages (the review queue, merges).
    ``communities`` lists the community codes they may see; a clerk reviews and merges, a
    supervisor may also force a merge and undo one."""

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(12), default="clerk")
    communities: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Sessions carry the epoch they were made in; signing out or disabling bumps it, so every
    # earlier session cookie stops working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (CheckConstraint(f"role IN {STAFF_ROLES!r}", name="role"),)
