"""The sync on both backends, against real ledger and portal databases."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from civic.db import read_only, transaction
from civic.ledger import outbox, service
from civic.ledger.tables import OutboxEntry, Service
from civic.portal.store import state as store_state
from civic.portal.store.apply import apply_records
from civic.portal.store.search import search
from civic.portal.store.tables import PortalCustomer
from civic.sync.feeds import FeedChange, LedgerFeed
from civic.sync.run import sync_once
from tests.builders import Town
from tests.sync.helpers import (
    TODAY,
    assert_portal_matches_ledger,
    latest_seq,
    portal_row,
    small_town,
)


def feed(ledger: Engine) -> LedgerFeed:
    return LedgerFeed(ledger, today=TODAY)


def test_first_sync_is_a_snapshot_equal_to_the_ledger(engine: Engine, portal: Engine) -> None:
    small_town(engine)
    result = sync_once(feed(engine), portal)
    assert result.snapshot and result.cursor == latest_seq(engine) and result.caught_up
    assert assert_portal_matches_ledger(engine, portal) == 6
    with read_only(portal) as s:
        status = store_state.status(s)
    assert status.cursor == latest_seq(engine) and status.last_success_at is not None
    assert status.lag_changes == 0 and status.customers == 6


def test_eligibility_reasons_follow_seed_001(engine: Engine, portal: Engine) -> None:
    small_town(engine)
    sync_once(feed(engine), portal)
    reasons = {
        a: portal_row(portal, a).ineligible_reason
        for a in ("001234-01", "002001-01", "003001-01", "004001-01", "005001-01", "006001-01")
    }
    assert reasons == {
        "001234-01": None,
        "002001-01": None,
        "003001-01": "closed",
        "004001-01": "no_online_access",
        "005001-01": "no_eligible_charges",
        # charged more than 24 months ago, but still owes it: a balance makes it eligible
        "006001-01": None,
    }
    jane = portal_row(portal, "001234-01")
    assert jane.balance_cents == 6827 + 2000 + 7051 - 5000
    assert jane.payment_status == "past_due"
    assert jane.last_payment_date == date(2026, 9, 20) and jane.last_payment_cents == 5000


def test_a_service_made_ineligible_reevaluates_its_customers(
    engine: Engine, portal: Engine
) -> None:
    small_town(engine)
    sync_once(feed(engine), portal)
    assert portal_row(portal, "002001-01").visible
    with transaction(engine) as s:
        s.execute(update(Service).where(Service.code == "GA").values(portal_eligible=False))
    sync_once(feed(engine), portal)
    row = portal_row(portal, "002001-01")
    assert not row.visible and row.ineligible_reason == "no_eligible_charges"
    with read_only(portal) as s:
        assert [h.account_number for h in search(s, "Jon Smith")] == []


def test_changes_after_the_cursor_apply_incrementally(engine: Engine, portal: Engine) -> None:
    town = small_town(engine)
    sync_once(feed(engine), portal)
    before = portal_row(portal, "002001-01").synced_at
    with transaction(engine) as s:
        c = service.get_customer(s, "1234-1")
        service.update_customer(s, c, {"last_name": "O'Brien-Walsh"}, actor="t")
    town.customer("Zed Newcomer", "7001-1").charge("WA", "12.00", "2026-10-15")
    result = sync_once(feed(engine), portal)
    assert not result.snapshot
    assert result.applied.inserted == 1 and result.applied.updated == 1
    assert_portal_matches_ledger(engine, portal)
    assert portal_row(portal, "002001-01").synced_at == before
    with read_only(portal) as s:
        assert search(s, "walsh")[0].account_number == "001234-01"
        assert search(s, "newcomer")[0].account_number == "007001-01"


def test_an_idempotent_reapply_rewrites_nothing(engine: Engine, portal: Engine) -> None:
    small_town(engine)
    sync_once(feed(engine), portal)
    with read_only(engine) as s:
        ids = [c.customer_id for c in outbox.read_changes(s, 0, 1000)]
    records = list(feed(engine).records(ids).values())
    before = {a: portal_row(portal, a).synced_at for a in ("001234-01", "006001-01")}
    with transaction(portal) as s:
        again = apply_records(s, records, seq=999)
    assert again.written == 0 and again.unchanged == 6
    assert {a: portal_row(portal, a).synced_at for a in before} == before
    assert portal_row(portal, "001234-01").synced_seq != 999


class Boom(RuntimeError):
    pass


def test_a_crash_mid_batch_loses_nothing_and_repeats_nothing(
    engine: Engine, portal: Engine
) -> None:
    town = small_town(engine)
    sync_once(feed(engine), portal)
    cursor = latest_seq(engine)
    for i in range(6):
        town.customer(f"Pat Batch{i}", f"{8000 + i}-1").charge("WA", "1.00", "2026-10-15")
    batches: list[list[FeedChange]] = []

    def fail_second(session: Session, changes: list[FeedChange]) -> None:
        batches.append(changes)
        if len(batches) == 2:
            raise Boom("the portal went away mid-batch")

    with pytest.raises(Boom):
        sync_once(feed(engine), portal, batch_size=4, hook=fail_second)
    with read_only(portal) as s:
        status = store_state.status(s)
        # the first batch committed with its cursor; the second left no trace
        assert status.cursor == batches[0][-1].seq > cursor
        assert status.last_error is not None and "went away" in status.last_error
        stored = set(s.scalars(select(PortalCustomer.id)))
    assert {c.customer_id for c in batches[0]} <= stored
    second_only = {c.customer_id for c in batches[1]} - {c.customer_id for c in batches[0]}
    assert second_only and not second_only & stored
    resumed = sync_once(feed(engine), portal, batch_size=4)
    assert resumed.changes == latest_seq(engine) - batches[0][-1].seq
    assert resumed.batches > 0 and resumed.caught_up
    assert_portal_matches_ledger(engine, portal)


def test_a_portal_behind_retention_takes_a_snapshot(engine: Engine, portal: Engine) -> None:
    town = small_town(engine)
    sync_once(feed(engine), portal)
    jane = town.customer("Late Arrival", "9001-1")
    jane.charge("WA", "3.00", "2026-10-15")
    with transaction(engine) as s:
        c = service.get_customer(s, "2001-1")
        service.update_customer(s, c, {"service_address": "401 Oak Avenue"}, actor="t")
        # the ledger prunes its feed: only the newest change is kept
        s.execute(delete(OutboxEntry).where(OutboxEntry.seq < outbox.last_seq(s)))
    result = sync_once(feed(engine), portal)
    assert result.snapshot and result.caught_up
    assert_portal_matches_ledger(engine, portal)


def test_a_snapshot_interrupted_resumes_where_it_stopped(engine: Engine, portal: Engine) -> None:
    town = Town(engine)
    for i in range(7):
        town.customer(f"Sam Page{i}", f"{1100 + i}-1").charge("WA", "2.00", "2026-10-15")
    calls = {"n": 0}

    def stop_after_first_page() -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    from civic.sync import run

    first = sync_once(feed(engine), portal, stop=stop_after_first_page, snapshot_page=3)
    assert first.stopped and first.applied.inserted == 3
    with read_only(portal) as s:
        st = store_state.peek(s)
        assert st is not None and st.cursor is None and st.snapshot_mark is not None
    town.customer("Sam Late", "1200-1").charge("WA", "2.00", "2026-10-15")
    second = sync_once(feed(engine), portal, snapshot_page=3)
    assert second.snapshot and second.caught_up
    assert second.applied.inserted == 5  # the four left and the one added meanwhile
    assert run.SNAPSHOT_PAGE > 3
    assert_portal_matches_ledger(engine, portal)
