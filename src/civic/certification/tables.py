"""Certification tables, in the ledger database (same metadata and migrations as the ledger).

Exactly-once is the database's job: ``certification_postings`` has one row per (certification,
generation, kind) — a second ``apply`` of the same generation violates a unique constraint, so
two Update Customer Balances runs (or one run with overlapping dates) cannot post twice.
``--reapply`` writes a ``reverse`` of the current generation and an ``apply`` of the next.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import UTCDateTime
from civic.ledger.tables import Base, Id


class CertificationRun(Base):
    """One run of Create Tax Certification Records, with the options it was run with."""

    __tablename__ = "certification_runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    cert_date: Mapped[date] = mapped_column(Date)
    current_period_end: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(200))
    fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    criteria: Mapped[str | None] = mapped_column(Text)
    collection_code: Mapped[str | None] = mapped_column(String(10))
    collection_mode: Mapped[str] = mapped_column(String(8), default="none")
    alert_message: Mapped[str | None] = mapped_column(String(500))
    alert_mode: Mapped[str] = mapped_column(String(8), default="skip")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(60))
    __table_args__ = (
        CheckConstraint("fee_cents >= 0", name="fee"),
        CheckConstraint("collection_mode IN ('none', 'assign', 'replace')", name="collection"),
        CheckConstraint("alert_mode IN ('skip', 'append', 'replace')", name="alert"),
    )


class Certification(Base):
    """One customer's certification in a run: the total of its lines plus the fee."""

    __tablename__ = "certifications"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("certification_runs.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    fee_cents: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        UniqueConstraint("run_id", "customer_id"),
        CheckConstraint("amount_cents > 0", name="amount"),
    )


class CertificationLine(Base):
    """The certified amount of one service in one billing period."""

    __tablename__ = "certification_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("billing_periods.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        UniqueConstraint("certification_id", "service_id", "period_id"),
        CheckConstraint("amount_cents > 0", name="amount"),
    )


class CertificationPosting(Base):
    """A certification applied to (or reversed from) the customer's balance."""

    __tablename__ = "certification_postings"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id"))
    generation: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    posted_date: Mapped[date] = mapped_column(Date)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    posted_by: Mapped[str] = mapped_column(String(60))
    __table_args__ = (
        UniqueConstraint("certification_id", "generation", "kind"),
        CheckConstraint("kind IN ('apply', 'reverse')", name="kind"),
        CheckConstraint("generation >= 1", name="generation"),
    )


class CertificationTransaction(Base):
    """Which ledger rows a posting wrote (each ledger row belongs to at most one posting)."""

    __tablename__ = "certification_transactions"
    posting_id: Mapped[int] = mapped_column(
        ForeignKey("certification_postings.id"), primary_key=True
    )
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transactions.id"), primary_key=True, unique=True
    )
