"""The change feed: append a change in the same transaction as the change itself; read the
feed after a cursor.

Writers take ``db.lock_outbox`` once per transaction before their first outbox insert, so on
PostgreSQL sequence numbers become visible in the order they were issued and a reader that
remembers the last ``seq`` it saw never skips one (see ARCHITECTURE.md, "the outbox trap").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from civic.db import lock_outbox
from civic.ledger.tables import OutboxEntry
from civic.ledger.types import Change

ENTITIES = ("customer", "transaction", "reading", "order")
OUTBOX = cast(Table, OutboxEntry.__table__)


def _ensure_locked(session: Session) -> None:
    tx = session.get_transaction()
    if tx is None or session.info.get("outbox_locked_tx") is not tx:
        lock_outbox(session)
        session.info["outbox_locked_tx"] = session.get_transaction()


def record(
    session: Session,
    *,
    community_id: int,
    customer_id: int,
    entity: str,
    entity_id: int | None,
    op: str,
) -> None:
    """Append one change for ``customer_id``; part of the caller's transaction."""
    record_many(session, [(community_id, customer_id, entity, entity_id, op)])


def record_many(session: Session, changes: Iterable[tuple[int, int, str, int | None, str]]) -> int:
    """Append many changes ``(community_id, customer_id, entity, entity_id, op)`` at once."""
    now = datetime.now(UTC)
    rows = [
        {
            "at": now,
            "community_id": c,
            "customer_id": cust,
            "entity": entity,
            "entity_id": eid,
            "op": op,
        }
        for c, cust, entity, eid, op in changes
    ]
    for row in rows:
        if row["entity"] not in ENTITIES:
            raise ValueError(f"unknown outbox entity {row['entity']!r}")
    if not rows:
        return 0
    _ensure_locked(session)
    # Core insert on the table (not the ORM bulk path): about 4x faster for large batches.
    session.execute(insert(OUTBOX), rows)
    return len(rows)


def read_changes(session: Session, after: int = 0, limit: int = 1000) -> list[Change]:
    """Changes with ``seq > after``, oldest first, at most ``limit``."""
    stmt = select(OutboxEntry).where(OutboxEntry.seq > after).order_by(OutboxEntry.seq).limit(limit)
    return [
        Change(
            seq=r.seq,
            at=r.at,
            community_id=r.community_id,
            customer_id=r.customer_id,
            entity=r.entity,
            entity_id=r.entity_id,
            op=r.op,
        )
        for r in session.scalars(stmt)
    ]


def last_seq(session: Session) -> int:
    """The newest sequence number written so far (0 for an empty feed)."""
    return int(session.scalar(select(func.coalesce(func.max(OutboxEntry.seq), 0))) or 0)


@dataclass(frozen=True)
class Pruned:
    """What ``prune`` removed (or would remove, with ``dry_run``)."""

    deleted: int
    before: datetime
    first_kept: int | None
    """The oldest change still in the feed afterwards (None: the feed was empty)."""
    latest: int


def prune(session: Session, before: datetime, *, dry_run: bool = False) -> Pruned:
    """Remove the changes recorded before ``before``, keeping the newest change whatever its
    age, so a reader's ``latest`` stays the feed's true position (sequence numbers are never
    reused: SQLite's AUTOINCREMENT, PostgreSQL's sequence). A portal whose cursor is older than
    what is kept sees a gap after its cursor and takes a full snapshot (``civic sync run``).
    Changes still being written are invisible here and newer than the newest: never removed."""
    latest = last_seq(session)
    o = OUTBOX.c
    old = (o.at < before) & (o.seq < latest)
    if dry_run:
        deleted = int(session.scalar(select(func.count()).where(old)) or 0)
        first = session.scalar(select(func.min(o.seq)).where(~old))
    else:
        deleted = int(session.execute(delete(OUTBOX).where(old)).rowcount or 0)  # type: ignore[attr-defined]
        first = session.scalar(select(func.min(o.seq)))
    return Pruned(deleted, before, int(first) if first is not None else None, latest)


@dataclass(frozen=True)
class Extent:
    """What the feed holds: how many changes, the oldest and the newest."""

    changes: int
    first_seq: int | None
    first_at: datetime | None
    latest_seq: int
    latest_at: datetime | None


def extent(session: Session) -> Extent:
    o = OUTBOX.c
    count, first, first_at, latest, latest_at = session.execute(
        select(func.count(), func.min(o.seq), func.min(o.at), func.max(o.seq), func.max(o.at))
    ).one()
    return Extent(int(count), first, first_at, int(latest or 0), latest_at)
