"""Merge journal tables, in the ledger database.

A merge writes one ``merges`` row (both customers' fields before the merge, the survivor's
fields after, who, why) and one ``merge_moves`` row per linked record it moved from the source
to the survivor, so that ``undo`` can put back exactly what the merge moved — and nothing that
was posted to the survivor afterwards.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civic.db import UTCDateTime
from civic.ledger.tables import Base, Id

MOVE_ENTITIES = (
    "transaction",
    "reading",
    "order",
    "certification",
    "alert",
    "ref",
    "dependent",
    "merged",
)


class Merge(Base):
    __tablename__ = "merges"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    source_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    source_before: Mapped[dict[str, Any]] = mapped_column()
    survivor_before: Mapped[dict[str, Any]] = mapped_column()
    survivor_after: Mapped[dict[str, Any]] = mapped_column()
    orders_from: Mapped[date | None] = mapped_column(Date)
    orders_to: Mapped[date | None] = mapped_column(Date)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    pair_id: Mapped[int | None] = mapped_column(BigInteger)
    pair_before: Mapped[dict[str, Any] | None] = mapped_column()
    """The review-queue pair of these two records as it was before the merge (status,
    reviewer, decided_at), restored by an undo; None when the queue held no such pair."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(60))
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    undone_by: Mapped[str | None] = mapped_column(String(60))
    __table_args__ = (CheckConstraint("source_id <> survivor_id", name="distinct"),)


class MergeMove(Base):
    """One linked record moved by a merge: enough to move it back."""

    __tablename__ = "merge_moves"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    merge_id: Mapped[int] = mapped_column(ForeignKey("merges.id"))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any] | None] = mapped_column()
    __table_args__ = (
        Index("ix_merge_moves_merge", "merge_id", "entity"),
        CheckConstraint(f"entity IN {MOVE_ENTITIES!r}", name="entity"),
    )
