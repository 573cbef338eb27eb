"""The sync's bookkeeping in the store: cursor, snapshot progress, last run, last error, lag.

The cursor is only ever written in the transaction that stores the rows it covers (the sync's
batch); run bookkeeping (started, succeeded, failed) is written in its own small transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civic.portal.store.tables import PortalCommunity, PortalCustomer, SyncState

STATE_ID = 1


def load(session: Session) -> SyncState:
    """The state row, created on first use (in the caller's transaction)."""
    state = session.get(SyncState, STATE_ID)
    if state is None:
        state = SyncState(id=STATE_ID, applied_total=0)
        session.add(state)
        session.flush()
    return state


def peek(session: Session) -> SyncState | None:
    """The state row without creating it (for readers)."""
    return session.get(SyncState, STATE_ID)


@dataclass(frozen=True)
class SyncStatus:
    """What ``civic sync status`` and the staff page show."""

    cursor: int | None
    source: str | None
    snapshot_in_progress: bool
    last_started_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    latest_seq: int | None
    lag_changes: int | None
    lag_seconds: float | None
    customers: int
    visible: int
    communities: tuple[str, ...]
    next_due_at: datetime | None
    interval_seconds: int | None

    @property
    def healthy(self) -> bool:
        if self.last_success_at is None:
            return False
        return self.last_error_at is None or self.last_error_at < self.last_success_at


def status(session: Session) -> SyncStatus:
    from datetime import timedelta

    state = peek(session)
    customers = int(session.scalar(select(func.count()).select_from(PortalCustomer)) or 0)
    visible = int(
        session.scalar(
            select(func.count()).select_from(PortalCustomer).where(PortalCustomer.visible)
        )
        or 0
    )
    communities = tuple(session.scalars(select(PortalCommunity.code).order_by("code")))
    interval = session.scalar(select(func.min(PortalCommunity.sync_interval_seconds)))
    next_due = None
    if state is not None and state.last_success_at is not None and interval is not None:
        next_due = state.last_success_at + timedelta(seconds=int(interval))
    return SyncStatus(
        cursor=state.cursor if state else None,
        source=state.source if state else None,
        snapshot_in_progress=bool(state and state.snapshot_seq is not None),
        last_started_at=state.last_started_at if state else None,
        last_success_at=state.last_success_at if state else None,
        last_error=state.last_error if state else None,
        last_error_at=state.last_error_at if state else None,
        latest_seq=state.latest_seq if state else None,
        lag_changes=state.lag_changes if state else None,
        lag_seconds=state.lag_seconds if state else None,
        customers=customers,
        visible=visible,
        communities=communities,
        next_due_at=next_due,
        interval_seconds=int(interval) if interval is not None else None,
    )
