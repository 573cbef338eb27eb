"""Comparing the portal with the ledger's projection, and a small town to sync."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.engine import Engine

from civic.db import read_only, transaction
from civic.ledger import outbox, service
from civic.ledger.tables import Customer
from civic.merge.apply import apply_merge
from civic.portal.store.read import customer_by_account, stored_record
from civic.portal.store.tables import PortalCustomer
from civic.sync import project
from tests.builders import Town

TODAY = date(2026, 11, 30)


def assert_portal_matches_ledger(ledger: Engine, portal: Engine, today: date = TODAY) -> int:
    """Every ledger customer is in the portal exactly as the projection says (profile, every
    balance, every period, every transaction of the window), and nothing else is."""
    with read_only(ledger) as s:
        ids = list(s.scalars(select(Customer.id).order_by(Customer.id)))
        expected = project.project(s, ids, today=today)
    with read_only(portal) as p:
        stored_ids = list(p.scalars(select(PortalCustomer.id).order_by(PortalCustomer.id)))
        assert stored_ids == ids
        for cid in ids:
            assert stored_record(p, cid) == expected[cid], f"customer {cid} differs"
    return len(ids)


def small_town(ledger: Engine) -> Town:
    """Six customers covering the eligibility rules and the usual shapes of history."""
    town = Town(ledger)
    jane = town.customer(
        "Jane O'Brien", "1234-1", service_address="12 Main St", phone="(555) 123-4567"
    )
    jane.charge("WA", "68.27", "2026-08-15").charge("SE", "20.00", "2026-09-15")
    jane.pay("50.00", "2026-09-20", ref="1001")
    jane.charge("WA", "70.51", "2026-10-15")
    town.customer("Jon Smith", "2001-1", service_address="400 Oak Avenue").charge(
        "GA", "15.00", "2026-10-15"
    )
    closed = town.customer("Mary Closed", "3001-1", service_address="9 Elm St")
    closed.charge("WA", "10.00", "2026-10-15")
    with transaction(ledger) as s:
        c = service.get_customer(s, "3001-1")
        service.close_customer(s, c, actor="test")
    town.customer("Olaf Offline", "4001-1", online_access="no").charge("WA", "5", "2026-10-15")
    town.customer("Nora Nothing", "5001-1")
    town.customer("Acme Hardware", "6001-1", business=True).charge("WA", "99.00", "2024-01-15")
    return town


def latest_seq(ledger: Engine) -> int:
    with read_only(ledger) as s:
        return outbox.last_seq(s)


def portal_row(portal: Engine, account: str) -> PortalCustomer:
    with read_only(portal) as s:
        row = customer_by_account(s, account)
        assert row is not None
        return row


def merge(ledger: Engine, source: str, survivor: str) -> None:
    """A real merge (civic.merge): one transaction, the source inactive and pointing at the
    survivor, every linked record moved, both customers on the change feed."""
    with transaction(ledger) as s:
        apply_merge(
            s, service.get_customer(s, source), service.get_customer(s, survivor), actor="test"
        )
