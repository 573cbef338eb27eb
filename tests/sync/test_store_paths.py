"""The store's write paths give the same store: a snapshot (rows copied in, ``COPY`` on
PostgreSQL), the incremental batches (the delta path's one-statement updates and deletes, the
full projection's rewrites) and a merge that moves transactions between customers, even in the
middle of a snapshot (a copied id already stored under another customer)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from civic.db import read_only, transaction
from civic.ledger import service
from civic.sync.feeds import LedgerFeed
from civic.sync.run import sync_once
from tests.builders import Account
from tests.sync.helpers import TODAY, assert_portal_matches_ledger, merge, small_town

IGNORED = {"synced_at", "synced_seq"}
"""When a customer was written, not what."""


def feed(ledger: Engine) -> LedgerFeed:
    return LedgerFeed(ledger, today=TODAY)


def dump(portal: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the sync writes, per table, sorted (the search index too)."""
    sqlite = portal.dialect.name == "sqlite"
    key = "rowid" if sqlite else "customer_id"
    queries = {
        "customers": "SELECT * FROM portal_customers",
        "services": "SELECT * FROM portal_service_balances",
        "periods": "SELECT * FROM portal_period_balances",
        "transactions": "SELECT * FROM portal_transactions",
        "words": "SELECT word, uses FROM portal_words",
        "search": f"SELECT {key}, doc, name, address, community, visible FROM portal_search",
        "search_words": "SELECT word, customer_id, community, visible, name, address "
        "FROM portal_search_words",
    }
    out: dict[str, list[tuple[Any, ...]]] = {}
    with read_only(portal) as s:
        for name, sql in queries.items():
            result = s.execute(text(sql))
            keep = [i for i, c in enumerate(result.keys()) if c not in IGNORED]
            rows = [tuple(repr(row[i]) for i in keep) for row in result]
            out[name] = sorted(rows)
    return out


def fresh_snapshot(ledger: Engine, portal: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The store a new portal gets from one snapshot now (its tables emptied first)."""
    with transaction(portal) as s:
        for table in (
            "portal_search_words",
            "portal_search",
            "portal_words",
            "portal_transactions",
            "portal_period_balances",
            "portal_service_balances",
            "portal_customers",
            "sync_state",
        ):
            s.execute(text(f"DELETE FROM {table}"))
    result = sync_once(feed(ledger), portal)
    assert result.snapshot
    return dump(portal)


def test_incremental_batches_give_the_store_a_snapshot_gives(
    engine: Engine, portal: Engine
) -> None:
    town = small_town(engine)
    sync_once(feed(engine), portal)
    # deltas (new charges and payments, a new period), a profile change (words move), a new
    # customer, and a merge that moves one customer's transactions to another
    Account(town, "002001-01").charge("GA", "16.00", "2026-10-25")
    Account(town, "001234-01").pay("10.00", "2026-10-26", ref="1002")
    Account(town, "004001-01").charge("WA", "7.00", "2026-11-15")
    with transaction(engine) as s:
        c = service.get_customer(s, "2001-1")
        service.update_customer(s, c, {"last_name": "Smythe"}, actor="t")
    town.customer("Zed Newcomer", "7001-1", service_address="1 New Rd").charge(
        "WA", "12.00", "2026-10-15"
    )
    sync_once(feed(engine), portal, batch_size=2)
    merge(engine, "4001-1", "2001-1")
    Account(town, "002001-01").charge("GA", "3.00", "2026-10-28")
    sync_once(feed(engine), portal, batch_size=3)
    assert_portal_matches_ledger(engine, portal)
    synced = dump(portal)
    assert synced["transactions"] and synced["search_words"] and synced["words"]
    assert synced == fresh_snapshot(engine, portal)


def test_a_merge_during_a_snapshot_moves_rows_already_copied(
    engine: Engine, portal: Engine
) -> None:
    """A page copies a customer's transactions; a merge then moves them to a customer of a
    later page, whose rows hold ids the store already has (under the source): they are
    replaced, and the end state is the ledger's."""
    small_town(engine)
    pages = 0

    def merge_after_the_first_page() -> bool:
        nonlocal pages
        pages += 1
        if pages == 2:  # Jane (the first customer) is stored; Jon comes later
            merge(engine, "1234-1", "2001-1")
        return False

    result = sync_once(feed(engine), portal, snapshot_page=1, stop=merge_after_the_first_page)
    assert result.snapshot and pages >= 3
    assert_portal_matches_ledger(engine, portal)
    assert synced_equal(engine, portal)


def synced_equal(ledger: Engine, portal: Engine) -> bool:
    return dump(portal) == fresh_snapshot(ledger, portal)
