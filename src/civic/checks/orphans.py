"""Orphan records: transactions, meter readings, orders or certifications whose customer does
not exist (foreign keys refuse new ones; this finds those left by legacy data or by a database
whose constraints were off)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civic.certification.tables import Certification
from civic.errors import Problem
from civic.ledger.tables import Customer, MeterReading, Order, Transaction

NAME = "orphans"

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
