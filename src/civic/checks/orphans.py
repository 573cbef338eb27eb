"""Orphan records: transactions, meter readings, orders or certifications whose customer does
not exist (foreign keys refuse new ones; this finds those left by legacy data or by a database
whose constraints were off), or that still point at a customer a merge retired (a merge moves
them all, and the ledger refuses new ones; only closed orders outside a merge's date range may
stay behind, by design)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civic.certification.tables import Certification
from civic.errors import Problem
from civic.ledger.tables import Customer, MeterReading, Order, Transaction

NAME = "orphans"
MERGED_NAME = "merged-away"

LINKED: tuple[tuple[str, Any], ...] = (
    ("transaction", Transaction),
    ("meter reading", MeterReading),
    ("order", Order),
    ("certification", Certification),
)


def check(session: Session) -> Iterator[Problem]:
    for label, table in LINKED:
        rows = session.execute(
            select(table.id, table.customer_id)
            .join(Customer, Customer.id == table.customer_id, isouter=True)
            .where(Customer.id.is_(None))
            .order_by(table.id)
        ).all()
        for row_id, customer_id in rows:
            yield Problem(
                NAME,
                f"{label} {row_id} belongs to customer id {customer_id}, which does not exist",
                {"kind": label, "id": row_id, "customer_id": customer_id},
                fix=f"attach the {label} to the right customer or remove it with the "
                "database administrator",
            )


def check_merged(session: Session) -> Iterator[Problem]:
    for label, table in LINKED:
        # Few customers are merged away: start from them (an index), then their rows.
        merged = select(Customer.id).where(Customer.merged_into_id.is_not(None))
        stmt = (
            select(table.id, Customer.account_number, Customer.merged_into_id)
            .join(Customer, Customer.id == table.customer_id)
            .where(table.customer_id.in_(merged))
            .order_by(table.id)
        )
        if table is Order:
            stmt = stmt.where(Order.status == "active")
        for row_id, account, survivor_id in session.execute(stmt).all():
            survivor = session.get(Customer, survivor_id)
            into = survivor.account_number if survivor else f"customer id {survivor_id}"
            yield Problem(
                MERGED_NAME,
                f"{label} {row_id} still belongs to {account}, which was merged into {into}",
                {"kind": label, "id": row_id, "account": account, "survivor": into},
                fix=f"undo the merge and merge again (it moves every {label}), or attach the "
                f"{label} to {into}",
            )
