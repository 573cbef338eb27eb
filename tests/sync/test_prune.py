"""Feed retention: ``outbox.prune`` (``civic changes prune``) removes old changes but never the
newest, sequence numbers are not reused, a caught-up portal reads on, and a portal left behind
takes a snapshot that equals the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from civic.db import read_only, transaction
from civic.ledger import outbox, service
from civic.ledger.tables import OutboxEntry
from civic.sync.feeds import LedgerFeed
from civic.sync.run import sync_once
from tests.sync.helpers import TODAY, assert_portal_matches_ledger, latest_seq, small_town


def feed(ledger: Engine) -> LedgerFeed:
    return LedgerFeed(ledger, today=TODAY)


def _age_every_change(ledger: Engine, days: int) -> None:
    with transaction(ledger) as s:
        rows = s.execute(select(OutboxEntry.seq, OutboxEntry.at)).all()
        for seq, at in rows:
            s.execute(
                update(OutboxEntry)
                .where(OutboxEntry.seq == seq)
                .values(at=at - timedelta(days=days))
            )


def _count(ledger: Engine) -> int:
    with read_only(ledger) as s:
        return int(s.scalar(select(func.count()).select_from(OutboxEntry)) or 0)


def test_prune_keeps_recent_changes_and_the_newest(engine: Engine) -> None:
    small_town(engine)
    total = _count(engine)
    latest = latest_seq(engine)
    _age_every_change(engine, 200)
    with transaction(engine) as s:
        c = service.get_customer(s, "2001-1")
        service.update_customer(s, c, {"service_address": "401 Oak Avenue"}, actor="t")
    before = datetime.now(UTC) - timedelta(days=90)
    with read_only(engine) as s:
        dry = outbox.prune(s, before, dry_run=True)
    assert dry.deleted == total and _count(engine) == total + 1  # a dry run removes nothing
    with transaction(engine) as s:
        done = outbox.prune(s, before)
    assert done == dry
    # Only the recent change is left; the sequence goes on from where it was.
    assert _count(engine) == 1 and done.first_kept == latest + 1 == done.latest
    with transaction(engine) as s:
        c = service.get_customer(s, "1234-1")
        service.update_customer(s, c, {"phone": "555 000 1111"}, actor="t")
    assert latest_seq(engine) > done.latest


def test_the_newest_change_is_kept_however_old(engine: Engine) -> None:
    small_town(engine)
    latest = latest_seq(engine)
    _age_every_change(engine, 400)
    with transaction(engine) as s:
        done = outbox.prune(s, datetime.now(UTC) - timedelta(days=1))
    assert _count(engine) == 1 and done.first_kept == latest == done.latest
    with read_only(engine) as s:
        assert outbox.last_seq(s) == latest


def test_a_caught_up_portal_reads_on_and_one_left_behind_snapshots(
    engine: Engine, portal: Engine
) -> None:
    small_town(engine)
    assert sync_once(feed(engine), portal).snapshot
    _age_every_change(engine, 200)
    with transaction(engine) as s:
        outbox.prune(s, datetime.now(UTC) - timedelta(days=90))
    # Caught up: nothing after its cursor is missing, so no snapshot.
    with transaction(engine) as s:
        c = service.get_customer(s, "2001-1")
        service.update_customer(s, c, {"service_address": "401 Oak Avenue"}, actor="t")
    result = sync_once(feed(engine), portal)
    assert not result.snapshot and result.caught_up
    assert_portal_matches_ledger(engine, portal)
    # Behind: changes after its cursor were pruned, so it copies everyone again.
    with transaction(engine) as s:
        c = service.get_customer(s, "1234-1")
        service.update_customer(s, c, {"service_address": "14 Main St"}, actor="t")
        c = service.get_customer(s, "2001-1")
        service.update_customer(s, c, {"phone": "555 000 2222"}, actor="t")
    _age_every_change(engine, 200)
    with transaction(engine) as s:
        outbox.prune(s, datetime.now(UTC) - timedelta(days=90))
    result = sync_once(feed(engine), portal)
    assert result.snapshot and result.caught_up
    assert_portal_matches_ledger(engine, portal)
