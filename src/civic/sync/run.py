"""One sync run: a snapshot when needed, then the change feed after the cursor, batch by batch.

Each batch is one portal transaction holding the rows of every customer it touched *and* the
cursor moved to the batch's last sequence number: a crash at any point loses nothing and
repeats nothing (the next run starts after the last committed batch). The records applied are
read from the ledger after the batch's changes, so they are at least as new as the changes.

A portal that has never synced, or whose cursor is older than the oldest change the ledger
still keeps, takes a snapshot: it notes the feed's newest sequence number first, copies every
customer page by page (each page one transaction, its progress saved with it), and only then
sets the cursor to the noted number. Anything that changed during the snapshot is in the feed
after that number and is applied again, so nothing in between is missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from civic.db import transaction
from civic.errors import Conflict
from civic.portal.store import state as store_state
from civic.portal.store.apply import ApplyResult, apply_records, refresh_community
from civic.portal.store.tables import SyncState
from civic.sync.delta import DeltaResult
from civic.sync.feeds import Feed, FeedChange

BATCH = 1000
"""Changes read per batch (the HTTP feed serves at most 1,000 per request)."""
SNAPSHOT_PAGE = 500


@dataclass
class Progress:
    """Reported after every committed batch or snapshot page."""

    phase: str
    """``snapshot`` or ``feed``."""
    cursor: int
    latest: int
    customers: int


@dataclass
class RunResult:
    snapshot: bool = False
    batches: int = 0
    changes: int = 0
    applied: ApplyResult = field(default_factory=ApplyResult)
    cursor: int = 0
    latest: int = 0
    lag_changes: int = 0
    lag_seconds: float = 0.0
    stopped: bool = False

    @property
    def caught_up(self) -> bool:
        return self.cursor >= self.latest


BatchHook = Callable[[Session, list[FeedChange]], None]
"""Called inside a batch's transaction after its rows are applied, before the commit (for
metrics; a hook that raises rolls the batch back)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _locked_state(session: Session) -> SyncState:
    state = store_state.load(session)
    if session.get_bind().dialect.name == "postgresql":
        session.refresh(state, with_for_update=True)
    return state


def _needs_snapshot(feed: Feed, state: SyncState) -> bool:
    if state.snapshot_seq is not None:
        return True
    if state.cursor is None:
        return True
    first = feed.first_seq()
    # The ledger no longer keeps the change right after our cursor: we fell behind retention.
    return first is not None and first > state.cursor + 1 and state.cursor < feed.latest()


def _snapshot(
    feed: Feed,
    portal: Engine,
    result: RunResult,
    report: Callable[[Progress], None] | None,
    stop: Callable[[], bool],
    page_size: int,
) -> bool:
    """Copy every customer; returns False when stopped before the end."""
    with transaction(portal) as s:
        state = _locked_state(s)
        mark = state.snapshot_mark
        kind_ok = mark is None or mark.startswith(feed.mark_kind + ":")
        if state.snapshot_seq is None or not kind_ok:
            state.snapshot_seq = feed.latest()
            state.snapshot_mark = None
            state.snapshot_at = _now()
        position = int(state.snapshot_seq)
        mark = state.snapshot_mark
    result.snapshot = True
    done = 0
    while True:
        if stop():
            return False
        records, next_mark = feed.snapshot_page(mark, page_size)
        with transaction(portal) as s:
            state = _locked_state(s)
            if state.snapshot_seq != position:
                raise Conflict("another sync changed the snapshot meanwhile: stopped this one")
            applied = apply_records(s, records, seq=position)
            state.snapshot_mark = next_mark
            state.applied_total = (state.applied_total or 0) + applied.written
            if next_mark is None:
                state.cursor = position
                state.snapshot_seq = None
                state.snapshot_at = None
        result.applied.add(applied)
        done += len(records)
        if report:
            report(Progress("snapshot", position, position, done))
        if next_mark is None:
            result.cursor = position
            _analyze(portal)
            return True
        mark = next_mark


def _analyze(portal: Engine) -> None:
    """Planner statistics for a store a snapshot just filled (PostgreSQL). Without them the
    planner guesses, and the incremental batches' ``customer_id IN (...)`` statements on a
    store of millions of rows were seen taking seconds each; autovacuum may not have run."""
    if portal.dialect.name != "postgresql":
        return
    with portal.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def sync_once(
    feed: Feed,
    portal: Engine,
    *,
    batch_size: int = BATCH,
    report: Callable[[Progress], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
    hook: BatchHook | None = None,
    max_batches: int | None = None,
    snapshot_page: int = SNAPSHOT_PAGE,
    use_deltas: bool = True,
) -> RunResult:
    """Bring the portal up to the ledger's newest change (or until ``stop()`` says so)."""
    result = RunResult()
    started = _now()
    with transaction(portal) as s:
        state = store_state.load(s)
        state.last_started_at = started
        state.source = feed.source[:200]
    try:
        _run(
            feed,
            portal,
            result,
            batch_size,
            report,
            stop,
            hook,
            max_batches,
            snapshot_page,
            use_deltas,
        )
    except BaseException as exc:
        record_error(portal, exc)
        raise
    return result


def _run(
    feed: Feed,
    portal: Engine,
    result: RunResult,
    batch_size: int,
    report: Callable[[Progress], None] | None,
    stop: Callable[[], bool],
    hook: BatchHook | None,
    max_batches: int | None,
    snapshot_page: int,
    use_deltas: bool = True,
) -> None:
    communities = feed.communities()
    if communities:
        with transaction(portal) as s:
            for info in communities:
                refresh_community(s, info)
    with transaction(portal) as s:
        state = store_state.load(s)
        snapshot = _needs_snapshot(feed, state)
    if snapshot and not _snapshot(feed, portal, result, report, stop, snapshot_page):
        result.stopped = True
        return
    with transaction(portal) as s:
        cursor = int(store_state.load(s).cursor or 0)
    latest = feed.latest()
    while True:
        if stop() or (max_batches is not None and result.batches >= max_batches):
            result.stopped = stop()
            break
        changes = feed.changes(cursor, batch_size)
        if not changes:
            break
        ids = list(dict.fromkeys(c.customer_id for c in changes))
        deltas = getattr(feed, "apply_changes", None) if use_deltas else None
        records = feed.records(ids) if deltas is None else {}
        with transaction(portal) as s:
            state = _locked_state(s)
            if (state.cursor or 0) != cursor:
                raise Conflict(
                    f"another sync moved the cursor meanwhile ({cursor} -> {state.cursor}): "
                    "run one sync at a time"
                )
            if deltas is not None:
                done: DeltaResult = deltas(s, changes, seq=changes[-1].seq)
                applied = done.applied
            else:
                applied = apply_records(s, list(records.values()), seq=changes[-1].seq)
            if hook is not None:
                hook(s, changes)
            state.cursor = changes[-1].seq
            state.applied_total = (state.applied_total or 0) + applied.written
        cursor = changes[-1].seq
        result.batches += 1
        result.changes += len(changes)
        result.applied.add(applied)
        latest = max(latest, cursor)
        if report:
            report(Progress("feed", cursor, latest, len(ids)))
    result.cursor = cursor
    finish(feed, portal, result)


def finish(feed: Feed, portal: Engine, result: RunResult) -> None:
    """Note a successful run with how far behind the ledger the portal still is."""
    latest = feed.latest()
    pending = feed.changes(result.cursor, 1) if latest > result.cursor else []
    now = _now()
    result.latest = latest
    result.lag_changes = max(0, latest - result.cursor) if pending else 0
    result.lag_seconds = max(0.0, (now - pending[0].at).total_seconds()) if pending else 0.0
    with transaction(portal) as s:
        state = store_state.load(s)
        state.last_success_at = now
        state.latest_seq = latest
        state.lag_changes = result.lag_changes
        state.lag_seconds = result.lag_seconds


def record_error(portal: Engine, exc: BaseException) -> None:
    """Keep the last error for ``civic sync status``; never hides the original error."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    try:
        with transaction(portal) as s:
            state = store_state.load(s)
            state.last_error = f"{type(exc).__name__}: {message}"[:1000]
            state.last_error_at = _now()
    except Exception:  # noqa: BLE001 - the portal itself may be what failed
        pass
