"""The delta path: new postings applied from the portal's stored state, equal to the full
projection; everything it cannot prove falls back to the projection."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from civic.db import read_only, transaction
from civic.ledger import outbox, service
from civic.portal.store import state as store_state
from civic.portal.store.apply import apply_records
from civic.portal.store.read import stored_record
from civic.sync import project
from civic.sync.delta import DeltaResult, apply_deltas
from civic.sync.feeds import FeedChange, LedgerFeed
from civic.sync.run import sync_once
from tests.builders import Account, Town
from tests.sync.helpers import TODAY, assert_portal_matches_ledger, small_town


def feed(ledger: Engine, today: date = TODAY) -> LedgerFeed:
    return LedgerFeed(ledger, today=today)


def service_account(town: Town, account: str) -> Account:
    """An existing customer of the town, to post to."""
    return Account(town, account)


def pending(ledger: Engine, portal: Engine) -> list[FeedChange]:
    with read_only(portal) as p:
        cursor = int(store_state.load(p).cursor or 0)
    return feed(ledger).changes(cursor, 1000)


def apply_pending(ledger: Engine, portal: Engine, today: date = TODAY) -> DeltaResult:
    changes = pending(ledger, portal)
    with transaction(portal) as p, read_only(ledger) as s:
        done = apply_deltas(p, s, changes, today=today, seq=changes[-1].seq)
        store_state.load(p).cursor = changes[-1].seq
    return done


def test_new_postings_apply_as_deltas_equal_to_the_projection(
    engine: Engine, portal: Engine
) -> None:
    town = small_town(engine)
    sync_once(feed(engine), portal, use_deltas=True)
    jane = town.customer("Jane O'Brien", "1234-9")  # a new customer: full path
    jane.charge("WA", "1.00", "2026-11-02")
    accounts = {a: service_account(town, a) for a in ("1234-1", "2001-1", "5001-1", "6001-1")}
    accounts["1234-1"].charge("WA", "71.00", "2026-11-15")  # a new period
    accounts["1234-1"].pay("30.00", "2026-11-20")  # a credit aged oldest first
    accounts["2001-1"].charge("GA", "5.00", "2026-10-20")  # an existing period
    accounts["5001-1"].charge("WA", "8.00", "2026-11-15")  # a first service: now eligible
    accounts["6001-1"].pay("99.00", "2026-11-20")  # pays a period kept for its balance
    done = apply_pending(engine, portal)
    with read_only(engine) as s:
        new_id = service.get_customer(s, "1234-9").id
    assert done.fallback == [new_id]
    assert done.applied.updated == 4
    with transaction(portal) as p, read_only(engine) as s:
        rest = project.project(s, done.fallback, today=TODAY)
        apply_records(p, list(rest.values()), seq=1)
    assert_portal_matches_ledger(engine, portal)


def test_a_delta_then_a_full_reapply_writes_nothing(engine: Engine, portal: Engine) -> None:
    town = small_town(engine)
    sync_once(feed(engine), portal, use_deltas=True)
    jane = service_account(town, "1234-1")
    jane.charge("SE", "12.00", "2026-11-15")
    result = sync_once(feed(engine), portal, use_deltas=True)
    assert result.applied.updated == 1
    assert_portal_matches_ledger(engine, portal)
    with read_only(engine) as s:
        cid = service.get_customer(s, "1234-1").id
    records = list(feed(engine).records([cid]).values())
    with transaction(portal) as p:
        again = apply_records(p, records, seq=999)
    assert again.written == 0 and again.unchanged == 1


def test_voids_and_profile_changes_take_the_full_path(engine: Engine, portal: Engine) -> None:
    town = small_town(engine)
    sync_once(feed(engine), portal, use_deltas=True)
    jane = service_account(town, "1234-1")
    paid = jane.pay("10.00", "2026-11-20")
    jane.void(paid[0], "2026-11-21")
    with transaction(engine) as s:
        c = service.get_customer(s, "2001-1")
        service.update_customer(s, c, {"phone": "555 987 6543"}, actor="t")
    with read_only(engine) as s:
        ids = sorted(service.get_customer(s, a).id for a in ("1234-1", "2001-1"))
    changes = pending(engine, portal)
    with transaction(portal) as p, read_only(engine) as s:
        done = apply_deltas(p, s, changes, today=TODAY, seq=changes[-1].seq)
        p.rollback()
    assert done.fallback == ids and done.applied.written == 0
    sync_once(feed(engine), portal, use_deltas=True)
    assert_portal_matches_ledger(engine, portal)


def test_a_later_window_drops_old_rows_exactly(engine: Engine, portal: Engine) -> None:
    town = small_town(engine)
    sync_once(feed(engine), portal, use_deltas=True)
    later = date(2027, 9, 30)  # the window now starts after Jane's first charges
    jane = service_account(town, "1234-1")
    jane.charge("WA", "40.00", "2027-09-15")
    done = apply_pending(engine, portal, today=later)
    assert done.fallback == [] and done.applied.updated == 1
    with read_only(engine) as s:
        cid = service.get_customer(s, "1234-1").id
        expected = project.project(s, [cid], today=later)[cid]
    with read_only(portal) as p:
        assert stored_record(p, cid) == expected


def test_the_outbox_says_what_changed(engine: Engine) -> None:
    town = small_town(engine)
    service_account(town, "2001-1").charge("GA", "1.00", "2026-11-02")
    with read_only(engine) as s:
        last = outbox.read_changes(s, outbox.last_seq(s) - 1, 1)[0]
    change = feed(engine).changes(last.seq - 1, 1)[0]
    assert (change.entity, change.op, change.entity_id) == ("transaction", "post", last.entity_id)


def test_a_posting_committed_while_a_batch_is_read_is_seen_whole_or_not_at_all(
    engine: Engine, portal: Engine
) -> None:
    """The intermittent "customer N differs" of the concurrent-writers test on PostgreSQL: at
    READ COMMITTED each statement of the projection saw a new snapshot, so a charge committed
    between the balance sums and the rows of transactions was stored as a transaction without
    its amount in the balance; its own change then found the row already stored and added
    nothing. Here the charge is committed exactly between those two statements."""
    town = small_town(engine)
    sync_once(feed(engine), portal)
    with transaction(engine) as s:  # a profile change: this customer takes the full path
        c = service.get_customer(s, "1234-1")
        service.update_customer(s, c, {"phone": "555 000 1111"}, actor="t")
        cid = c.id
    with read_only(engine) as s:
        before = project.project(s, [cid], today=TODAY)[cid]
    fired: list[int] = []

    def commit_between(
        _conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
    ) -> None:
        if (
            fired
            or "ORDER BY transactions.customer_id, transactions.txn_date DESC" not in statement
        ):
            return
        fired.append(1)
        service_account(town, "1234-1").charge("WA", "9.00", "2026-11-16")

    event.listen(engine, "before_cursor_execute", commit_between)
    try:
        first = sync_once(feed(engine), portal, max_batches=1)
    finally:
        event.remove(engine, "before_cursor_execute", commit_between)
    assert fired and first.applied.updated == 1
    with read_only(portal) as p:
        assert stored_record(p, cid) == before  # the batch's snapshot: without the new charge
    second = sync_once(feed(engine), portal)
    assert second.changes == 1
    assert_portal_matches_ledger(engine, portal)


def test_a_new_row_already_stored_takes_the_full_path(engine: Engine, portal: Engine) -> None:
    """The delta path never re-ages on top of a stored row it did not apply itself: a stored
    state that holds a transaction its balances lack is repaired, not kept."""
    town = small_town(engine)
    sync_once(feed(engine), portal)
    with read_only(engine) as s:
        cid = service.get_customer(s, "1234-1").id
        before = project.project(s, [cid], today=TODAY)[cid]
    service_account(town, "1234-1").charge("WA", "9.00", "2026-11-16")
    with read_only(engine) as s:
        after = project.project(s, [cid], today=TODAY)[cid]
    torn = dataclasses.replace(after, services=before.services)
    with transaction(portal) as p:  # as a torn read would have stored it
        apply_records(p, [torn], seq=0)
    result = sync_once(feed(engine), portal)
    assert result.changes == 1 and result.applied.updated == 1
    assert_portal_matches_ledger(engine, portal)


def test_periods_not_read_still_age_exactly(engine: Engine, portal: Engine) -> None:
    """The delta path reads only the stored periods a re-age can change (from the chunk's
    oldest new debit on, and any with something outstanding); the fully paid older ones only
    age, by one statement. All of it in one batch, compared with the projection."""
    town = small_town(engine)
    paid_up = town.customer("Paid Up", "8001-1")
    for month in ("07", "08", "09"):
        paid_up.charge("WA", "10.00", f"2026-{month}-15")
    paid_up.pay("30.00", "2026-09-20")
    owes = town.customer("Owes Old", "8002-1")
    owes.charge("WA", "10.00", "2026-07-15").charge("SE", "10.00", "2026-08-15")
    late = town.customer("Late Debit", "8003-1")
    late.charge("WA", "10.00", "2026-07-15").charge("WA", "10.00", "2026-08-15")
    late.pay("20.00", "2026-08-20")
    sync_once(feed(engine), portal)
    paid_up.charge("WA", "12.00", "2026-11-15")  # a new period: the older three age
    owes.pay("15.00", "2026-11-20")  # credits only: pays July, part of August
    late.charge("WA", "4.00", "2026-08-16")  # a debit in a fully paid old period
    paid_up.charge("SE", "3.00", "2026-10-15")  # a first period of another service
    done = apply_pending(engine, portal)
    assert done.fallback == [] and done.applied.updated == 3
    assert_portal_matches_ledger(engine, portal)
    with read_only(engine) as s:
        cid = service.get_customer(s, "8001-1").id
    with read_only(portal) as p:
        record = stored_record(p, cid)
    assert record is not None
    water = next(s for s in record.services if s.service == "WA")
    assert [(p.period_end.month, p.age) for p in water.periods] == [(11, 0), (9, 1), (8, 2), (7, 3)]
