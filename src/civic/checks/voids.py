"""More than one void for the same payment or check (seed: "How do I check for duplicate void
checks?")."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from civic.errors import Problem
from civic.ledger.tables import Customer, Transaction

NAME = "duplicate-voids"


def check(session: Session) -> Iterator[Problem]:
    """A payment voided more than once, or a check number voided more times than it was paid."""
    groups = session.execute(
        select(Transaction.voids_id, Customer.account_number, func.count())
        .join(Customer, Customer.id == Transaction.customer_id)
        .where(Transaction.kind == "VOID")
        .group_by(Transaction.voids_id, Customer.account_number)
        .having(func.count() > 1)
        .order_by(Transaction.voids_id)
    ).all()
    for payment_id, account, n in groups:
        void_ids = list(
            session.scalars(
                select(Transaction.id)
                .where(Transaction.kind == "VOID", Transaction.voids_id == payment_id)
                .order_by(Transaction.id)
            )
        )
        yield Problem(
            NAME,
            f"payment {payment_id} on account {account} is voided {n} times "
            f"(void transactions {', '.join(map(str, void_ids))})",
            {"account_number": account, "payment_id": payment_id, "void_ids": void_ids},
            fix=f"post a charge correction reversing the extra voids {void_ids[1:]}",
        )
    yield from _by_check_number(session)


def _by_check_number(session: Session) -> Iterator[Problem]:
    pay = aliased(Transaction)
    paid = (
        select(pay.customer_id, pay.reference, func.count().label("n"))
        .where(pay.kind == "PAY", pay.reference.is_not(None))
        .group_by(pay.customer_id, pay.reference)
        .subquery()
    )
    voided = (
        select(Transaction.customer_id, Transaction.reference, func.count().label("n"))
        .where(Transaction.kind == "VOID", Transaction.reference.is_not(None))
        .group_by(Transaction.customer_id, Transaction.reference)
        .subquery()
    )
    rows = session.execute(
        select(
            voided.c.customer_id,
            voided.c.reference,
            voided.c.n,
            func.coalesce(paid.c.n, 0),
            Customer.account_number,
        )
        .join(
            paid,
            and_(
                paid.c.customer_id == voided.c.customer_id, paid.c.reference == voided.c.reference
            ),
            isouter=True,
        )
        .join(Customer, Customer.id == voided.c.customer_id)
        .where(voided.c.n > func.coalesce(paid.c.n, 0))
        .order_by(Customer.account_number, voided.c.reference)
    ).all()
    for customer_id, reference, n_void, n_paid, account in rows:
        void_ids = list(
            session.scalars(
                select(Transaction.id)
                .where(
                    Transaction.kind == "VOID",
                    Transaction.customer_id == customer_id,
                    Transaction.reference == reference,
                )
                .order_by(Transaction.id)
            )
        )
        yield Problem(
            NAME,
            f"check {reference} on account {account} is voided {n_void} times but paid "
            f"{n_paid} times (void transactions {', '.join(map(str, void_ids))})",
            {"account_number": account, "check": reference, "void_ids": void_ids},
            fix="reverse the extra void transactions",
        )
