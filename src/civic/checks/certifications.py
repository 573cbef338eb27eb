"""Duplicate certification transactions: a certification posted to the balance more times
than it was reversed plus once (seed 004: "Why do customer accounts show duplicate
certification-type transactions?")."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from civic.certification.tables import Certification, CertificationPosting
from civic.errors import Problem
from civic.ledger.tables import Customer

NAME = "duplicate-certifications"


def check(session: Session) -> Iterator[Problem]:
    applies = func.sum(case((CertificationPosting.kind == "apply", 1), else_=0))
    reverses = func.sum(case((CertificationPosting.kind == "reverse", 1), else_=0))
    rows = session.execute(
        select(CertificationPosting.certification_id, Customer.account_number, applies, reverses)
        .join(Certification, Certification.id == CertificationPosting.certification_id)
        .join(Customer, Customer.id == Certification.customer_id)
        .group_by(CertificationPosting.certification_id, Customer.account_number)
        .having(applies > reverses + 1)
        .order_by(CertificationPosting.certification_id)
    ).all()
    for cert_id, account, n_apply, n_reverse in rows:
        yield Problem(
            NAME,
            f"certification {cert_id} on account {account} is posted {n_apply} times and "
            f"reversed {n_reverse} times: the balance is reduced more than once",
            {"certification_id": cert_id, "account_number": account},
            fix="reverse the extra posting (civic certify update-balances --reapply posts the "
            "current one once)",
        )
