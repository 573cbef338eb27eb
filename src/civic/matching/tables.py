"""Review-queue tables, in the ledger database: saved models, clusters and scored pairs.

A pair is stored once, lower customer id first. Its decision (accepted, rejected, merged) is
kept across runs; the customers' ``version`` at scoring time is stored beside it, so a rejected
pair comes back only when one of its records has changed since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import UTCDateTime
from civic.ledger.tables import Base, Id

TIERS = ("merge", "review")
CLASSIFICATIONS = ("duplicate_record", "same_customer_several_accounts")
PAIR_STATUSES = ("pending", "accepted", "rejected", "merged")


class MatchModel(Base):
    """A trained model (Splink settings with m and u), versioned; the latest is reused."""

    __tablename__ = "match_models"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime())
    trained_by: Mapped[str] = mapped_column(String(60))
    records: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[dict[str, Any]] = mapped_column()


class MatchCluster(Base):
    """Customers connected by suggested pairs. ``members_key`` (a digest of the sorted member
    ids) finds the same cluster again on the next run, so its id stays."""

    __tablename__ = "match_clusters"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    members_key: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MatchPair(Base):
    __tablename__ = "match_pairs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    customer_id_l: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    customer_id_r: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    version_l: Mapped[int] = mapped_column(Integer)
    version_r: Mapped[int] = mapped_column(Integer)
    match_weight: Mapped[float] = mapped_column(Float)
    match_probability: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(10))
    classification: Mapped[str] = mapped_column(String(40))
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("match_clusters.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reviewer: Mapped[str | None] = mapped_column(String(60))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    evidence: Mapped[list[Any]] = mapped_column()
    reasons: Mapped[list[Any]] = mapped_column()
    model_version: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        UniqueConstraint("customer_id_l", "customer_id_r"),
        Index("ix_match_pairs_queue", "community_id", "status", "tier"),
        CheckConstraint("customer_id_l < customer_id_r", name="ordered"),
        CheckConstraint(f"tier IN {TIERS!r}", name="tier"),
        CheckConstraint(f"classification IN {CLASSIFICATIONS!r}", name="classification"),
        CheckConstraint(f"status IN {PAIR_STATUSES!r}", name="status"),
    )


HOLD_STATUSES = ("held", "released", "attached")
HOLD_KINDS = ("customers", "orders")


class ImportHold(Base):
    """An imported row that scored in the review tier against an existing customer: held
    instead of creating a customer, until a clerk releases it (creates the customer from it) or
    attaches it to the candidate. ``row_key`` (a digest of the community, kind and row values)
    recognises the same row when the file is imported again."""

    __tablename__ = "import_holds"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    kind: Mapped[str] = mapped_column(String(10))
    file: Mapped[str] = mapped_column(String(255))
    line: Mapped[int] = mapped_column(Integer)
    row_key: Mapped[str] = mapped_column(String(64), index=True)
    account_number: Mapped[str | None] = mapped_column(String(9))
    values: Mapped[dict[str, Any]] = mapped_column()
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    match_weight: Mapped[float | None] = mapped_column(Float)
    match_probability: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[list[Any]] = mapped_column()
    reasons: Mapped[list[Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(10), default="held")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    """The customer the row ended on (attached to, or created by the release)."""
    held_at: Mapped[datetime] = mapped_column(UTCDateTime())
    held_by: Mapped[str] = mapped_column(String(60))
    decided_by: Mapped[str | None] = mapped_column(String(60))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (
        Index("ix_import_holds_queue", "community_id", "status"),
        CheckConstraint(f"status IN {HOLD_STATUSES!r}", name="status"),
        CheckConstraint(f"kind IN {HOLD_KINDS!r}", name="kind"),
    )
