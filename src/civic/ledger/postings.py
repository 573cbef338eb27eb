"""Posting to the append-only transaction ledger: charges, payments, payment adjustments,
fees and voids. A row is never updated or deleted; a correction is a new row.

Amounts are given as positive cents (what the clerk types) except adjustments, whose sign is
the effect on the balance (negative lowers it). Stored ``amount_cents`` is always the signed
effect on the balance.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from civic.errors import Conflict, InvalidInput, NotFound
from civic.ledger import outbox
from civic.ledger.balances import balance_report
from civic.ledger.customers import (
    audit,
    ensure_not_merged,
    get_service,
    now,
    services_by_code,
)
from civic.ledger.periods import ensure_period, period_end_for
from civic.ledger.tables import BillingPeriod, Community, Customer, Service, Transaction
from civic.money import Cents, format_cents


def _community(session: Session, customer: Customer) -> Community:
    community = session.get(Community, customer.community_id)
    assert community is not None
    return community


def _post(
    session: Session,
    customer: Customer,
    service: Service,
    kind: str,
    amount: int,
    txn_date: date,
    *,
    actor: str,
    period: date | None = None,
    description: str | None = None,
    reference: str | None = None,
    voids_id: int | None = None,
) -> Transaction:
    community = _community(session, customer)
    ensure_not_merged(session, customer)
    if customer.status == "closed" and kind in ("CHG", "FEE"):
        raise Conflict(f"account {customer.account_number} is closed: no new charges")
    billing_period = ensure_period(session, community, period or txn_date)
    if description is not None and len(description) > 200:
        raise InvalidInput("description: longer than 200 characters", field="description")
    if reference is not None and len(reference) > 40:
        raise InvalidInput("reference: longer than 40 characters", field="reference")
    txn = Transaction(
        customer_id=customer.id,
        service_id=service.id,
        period_id=billing_period.id,
        kind=kind,
        amount_cents=amount,
        txn_date=txn_date,
        description=description,
        reference=reference,
        voids_id=voids_id,
        posted_by=actor,
        posted_at=now(),
    )
    session.add(txn)
    session.flush()
    audit(
        session,
        actor,
        f"post.{kind.lower()}",
        "transaction",
        txn.id,
        customer.id,
        {"amount": [None, format_cents(amount)], "service": [None, service.code]},
    )
    outbox.record(
        session,
        community_id=customer.community_id,
        customer_id=customer.id,
        entity="transaction",
        entity_id=txn.id,
        op="post",
    )
    return txn


def _positive(amount: int, what: str) -> None:
    if amount <= 0:
        raise InvalidInput(f"amount: a {what} must be more than 0.00", field="amount")


def post_charge(
    session: Session,
    customer: Customer,
    service_code: str,
    amount: Cents,
    txn_date: date,
    *,
    actor: str,
    period: date | None = None,
    description: str | None = None,
    reference: str | None = None,
) -> Transaction:
    """A charge (CHG) billed for ``period`` (default: the period of ``txn_date``)."""
    if amount == 0:
        raise InvalidInput("amount: a charge cannot be 0.00", field="amount")
    service = get_service(session, _community(session, customer), service_code)
    return _post(
        session,
        customer,
        service,
        "CHG",
        amount,
        txn_date,
        actor=actor,
        period=period,
        description=description,
        reference=reference,
    )


def post_fee(
    session: Session,
    customer: Customer,
    service_code: str,
    amount: Cents,
    txn_date: date,
    *,
    actor: str,
    period: date | None = None,
    description: str | None = None,
    reference: str | None = None,
) -> Transaction:
    """A fee (FEE), e.g. a late fee or a tax certification fee."""
    _positive(amount, "fee")
    service = get_service(session, _community(session, customer), service_code)
    return _post(
        session,
        customer,
        service,
        "FEE",
        amount,
        txn_date,
        actor=actor,
        period=period,
        description=description,
        reference=reference,
    )


def post_adjustment(
    session: Session,
    customer: Customer,
    service_code: str,
    amount: Cents,
    txn_date: date,
    *,
    actor: str,
    period: date | None = None,
    description: str | None = None,
    reference: str | None = None,
) -> Transaction:
    """A payment adjustment (PADJ); ``amount`` is its effect on the balance (negative lowers)."""
    if amount == 0:
        raise InvalidInput("amount: an adjustment cannot be 0.00", field="amount")
    service = get_service(session, _community(session, customer), service_code)
    return _post(
        session,
        customer,
        service,
        "PADJ",
        amount,
        txn_date,
        actor=actor,
        period=period,
        description=description,
        reference=reference,
    )


def post_payment(
    session: Session,
    customer: Customer,
    amount: Cents,
    txn_date: date,
    *,
    actor: str,
    service_code: str | None = None,
    description: str | None = None,
    reference: str | None = None,
) -> list[Transaction]:
    """A payment (PAY). With a service it is posted there; without one it is split across the
    customer's services, each service's oldest balance first, any remainder to the first
    service as a credit. Returns one row per service paid."""
    _positive(amount, "payment")
    community = _community(session, customer)
    if service_code is not None:
        service = get_service(session, community, service_code)
        return [
            _post(
                session,
                customer,
                service,
                "PAY",
                -amount,
                txn_date,
                actor=actor,
                description=description,
                reference=reference,
            )
        ]
    split = _split_payment(session, customer, community, amount)
    return [
        _post(
            session,
            customer,
            service,
            "PAY",
            -part,
            txn_date,
            actor=actor,
            description=description,
            reference=reference,
        )
        for service, part in split
    ]


def _split_payment(
    session: Session, customer: Customer, community: Community, amount: int
) -> list[tuple[Service, int]]:
    """Split a payment over the customer's unpaid periods, oldest period first (services in
    code order within a period); anything left over is a credit on the first service."""
    services = services_by_code(session, community)
    report = balance_report(session, customer)
    unpaid = sorted(
        (p.period_end, s.service, int(p.outstanding))
        for s in report.services
        for p in s.periods
        if p.outstanding > 0
    )
    shares: dict[str, int] = {}
    left = amount
    for _end, code, outstanding in unpaid:
        if left <= 0:
            break
        take = min(left, outstanding)
        shares[code] = shares.get(code, 0) + take
        left -= take
    if left > 0:
        first = next(iter(shares), None) or min(services)
        shares[first] = shares.get(first, 0) + left
    return [(services[code], part) for code, part in shares.items()]


def post_void(
    session: Session,
    customer: Customer,
    transaction_id: int,
    txn_date: date,
    *,
    actor: str,
    description: str | None = None,
) -> Transaction:
    """Void a payment: a VOID row that reverses it. A payment can be voided once."""
    target = session.get(Transaction, transaction_id)
    if target is None or target.customer_id != customer.id:
        raise NotFound(
            f"no transaction {transaction_id} on account {customer.account_number}",
            transaction_id=transaction_id,
        )
    if target.kind != "PAY":
        raise InvalidInput(
            f"transaction {transaction_id} is a {target.kind}, only payments (PAY) can be voided"
        )
    already = session.scalar(
        select(Transaction.id).where(Transaction.voids_id == target.id, Transaction.kind == "VOID")
    )
    if already is not None:
        raise Conflict(
            f"payment {transaction_id} was already voided by transaction {already}",
            transaction_id=transaction_id,
            void_id=already,
        )
    service = session.get(Service, target.service_id)
    assert service is not None
    period = session.get(BillingPeriod, target.period_id)
    assert period is not None
    return _post(
        session,
        customer,
        service,
        "VOID",
        -target.amount_cents,
        txn_date,
        actor=actor,
        period=period.period_end,
        description=description or f"Void of payment {target.id}",
        reference=target.reference,
        voids_id=target.id,
    )


def payments_by_reference(session: Session, customer: Customer, reference: str) -> list[int]:
    """Ids of the payments on ``customer`` with check number / reference ``reference``."""
    return list(
        session.scalars(
            select(Transaction.id)
            .where(
                Transaction.customer_id == customer.id,
                Transaction.kind == "PAY",
                Transaction.reference == reference,
            )
            .order_by(Transaction.id)
        )
    )


def current_period_end(community: Community, today: date) -> date:
    return period_end_for(today, community.period_months)
