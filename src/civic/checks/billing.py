"""Consolidated billing whose master account is missing or not active."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from civic.errors import Problem
from civic.ledger.tables import Customer

NAME = "consolidated-billing"


def check(session: Session) -> Iterator[Problem]:
    master = aliased(Customer)
    rows = session.execute(
        select(
            Customer.id,
            Customer.account_number,
            Customer.master_customer_id,
            master.account_number,
            master.status,
        )
        .join(master, master.id == Customer.master_customer_id, isouter=True)
        .where(
            Customer.master_customer_id.is_not(None),
            Customer.status == "active",
            or_(master.id.is_(None), master.status != "active"),
        )
        .order_by(Customer.account_number)
    ).all()
    for cid, account, master_id, master_account, master_status in rows:
        state = "missing" if master_account is None else f"{master_status}"
        yield Problem(
            NAME,
            f"account {account} is billed through master account "
            f"{master_account or master_id}, which is {state}",
            {
                "account_number": account,
                "customer_id": cid,
                "master_customer_id": master_id,
                "master_account": master_account,
            },
            fix="reactivate the master account or move the member to an active master "
            f"(civic customers update {account} --set master_account=...)",
        )
