"""Balances derive from the ledger, never stored: per service, per period (aged), and total.

Aging rule: within a service, every credit (payments, negative adjustments, voids reversing
payments are debits) is applied to the oldest billed period first. A period's ``outstanding``
is what of its charges remains unpaid after that; credit beyond all charges is
``unapplied_credit`` (a negative number).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from civic.ledger.tables import BillingPeriod, Customer, Service, Transaction
from civic.ledger.types import BalanceReport, PeriodBalance, ServiceBalance
from civic.money import Cents


def age_service(
    debits_by_period: Iterable[tuple[date, int]], credits: int
) -> tuple[list[tuple[date, int, int]], int]:
    """Apply ``credits`` (a positive total) to periods oldest first.

    ``debits_by_period`` holds (period end, amount billed); returns (period end, billed,
    outstanding) newest first, and the credit left over (0 or positive).
    """
    periods = sorted(debits_by_period)
    left = credits
    aged: list[tuple[date, int, int]] = []
    for end, billed in periods:
        paid = min(left, billed) if billed > 0 else 0
        left -= paid
        aged.append((end, billed, billed - paid))
    aged.reverse()
    return aged, left


def balance_report(
    session: Session, customer: Customer, *, as_of: date | None = None
) -> BalanceReport:
    """Balances of one customer by service and period, optionally as of a date."""
    positive = case((Transaction.amount_cents > 0, Transaction.amount_cents), else_=0)
    negative = case((Transaction.amount_cents < 0, -Transaction.amount_cents), else_=0)
    stmt = (
        select(
            Transaction.service_id,
            BillingPeriod.period_end,
            func.sum(positive),
            func.sum(negative),
        )
        .join(BillingPeriod, BillingPeriod.id == Transaction.period_id)
        .where(Transaction.customer_id == customer.id)
        .group_by(Transaction.service_id, BillingPeriod.period_end)
    )
    if as_of is not None:
        stmt = stmt.where(Transaction.txn_date <= as_of)
    debits: dict[int, list[tuple[date, int]]] = defaultdict(list)
    credits: dict[int, int] = defaultdict(int)
    for service_id, period_end, pos, neg in session.execute(stmt):
        debits[service_id].append((period_end, int(pos or 0)))
        credits[service_id] += int(neg or 0)
    services = {
        s.id: s
        for s in session.scalars(
            select(Service).where(Service.community_id == customer.community_id)
        )
    }
    results: list[ServiceBalance] = []
    for service_id in sorted(debits, key=lambda sid: services[sid].code):
        aged, left = age_service(debits[service_id], credits[service_id])
        periods = tuple(
            PeriodBalance(period_end=end, age=i, charged=Cents(billed), outstanding=Cents(out))
            for i, (end, billed, out) in enumerate(aged)
        )
        balance = sum(p.outstanding for p in periods) - left
        svc = services[service_id]
        results.append(
            ServiceBalance(
                service=svc.code,
                name=svc.name,
                balance=Cents(balance),
                unapplied_credit=Cents(-left),
                periods=periods,
            )
        )
    total = Cents(sum(s.balance for s in results))
    return BalanceReport(
        account_number=customer.account_number, as_of=as_of, total=total, services=tuple(results)
    )


def total_balance(session: Session, customer_id: int) -> Cents:
    value = session.scalar(
        select(func.coalesce(func.sum(Transaction.amount_cents), 0)).where(
            Transaction.customer_id == customer_id
        )
    )
    return Cents(int(value or 0))
