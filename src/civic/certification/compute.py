"""What is certifiable: pure rules, plus the one set-based query that applies them.

For each customer and service, the certified amount is the unpaid balance in the periods older
than the service's *current portion* — the newest ``certification_periods`` periods ending at
the current period (seed 004: current period 4/30/2011, a two-period certification period, so
4/30 and 3/31 are current and 2/28/2011 and older are certified). Fees are excluded: the aging
counts charges (and other positive rows) but not FEE rows, and every credit — payments,
negative adjustments, earlier certification adjustments — pays the oldest period first.

With periods oldest first, charged amounts d_i, their running sum c_i and total credits C, the
unpaid part of period i is ``clamp(c_i - C, 0, d_i)``; that closed form lets the database do
the aging for 100,000 customers in one query with window functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select
from sqlalchemy.orm import Session

from civic.certification.tables import CertificationTransaction
from civic.ledger.periods import previous_period_end
from civic.ledger.tables import BillingPeriod, Customer, Service, Transaction


def certification_cutoff(
    current_period_end: date, certification_periods: int, period_months: int = 1
) -> date:
    """The newest period end that is certified: ``certification_periods`` periods before the
    current one (the current portion is the current period and the ones just before it)."""
    end = current_period_end
    for _ in range(certification_periods):
        end = previous_period_end(end, period_months)
    return end


def unpaid_by_period(charged: Iterable[tuple[date, int]], credits: int) -> dict[date, int]:
    """Unpaid amount per period after applying ``credits`` to the oldest periods first."""
    out: dict[date, int] = {}
    running = 0
    for end, amount in sorted(charged):
        running += amount
        out[end] = max(0, min(amount, running - credits))
    return out


def certifiable_amounts(
    charged: Iterable[tuple[date, int]], credits: int, cutoff: date
) -> dict[date, int]:
    """The certified amount per period: unpaid and ending on or before ``cutoff``."""
    return {
        end: amount
        for end, amount in unpaid_by_period(charged, credits).items()
        if end <= cutoff and amount > 0
    }


@dataclass(frozen=True)
class Line:
    customer_id: int
    service_id: int
    period_id: int
    period_end: date
    amount: int


def certifiable_lines_query(
    community_id: int,
    as_of: date,
    cutoffs: dict[int, date],
    where: ColumnElement[bool],
) -> Select[Any]:
    """One query giving every certifiable (customer, service, period, amount), ordered by
    customer; ``cutoffs`` maps service id to its newest certified period end."""
    amount = Transaction.amount_cents
    agg = (
        select(
            Transaction.customer_id.label("customer_id"),
            Transaction.service_id.label("service_id"),
            Transaction.period_id.label("period_id"),
            BillingPeriod.period_end.label("period_end"),
            func.sum(case((and_(Transaction.kind != "FEE", amount > 0), amount), else_=0)).label(
                "charged"
            ),
            func.sum(case((amount < 0, -amount), else_=0)).label("credit"),
        )
        .join(BillingPeriod, BillingPeriod.id == Transaction.period_id)
        .join(Customer, Customer.id == Transaction.customer_id)
        .where(
            Customer.community_id == community_id,
            # Earlier certification postings count whatever their date: a period once
            # certified and posted is never certified again.
            or_(
                Transaction.txn_date <= as_of,
                Transaction.id.in_(select(CertificationTransaction.transaction_id)),
            ),
            where,
        )
        .group_by(
            Transaction.customer_id,
            Transaction.service_id,
            Transaction.period_id,
            BillingPeriod.period_end,
        )
        .subquery("agg")
    )
    part = (agg.c.customer_id, agg.c.service_id)
    aged = select(
        agg,
        func.sum(agg.c.charged).over(partition_by=part, order_by=agg.c.period_end).label("running"),
        func.sum(agg.c.credit).over(partition_by=part).label("credits"),
    ).subquery("aged")
    left = aged.c.running - aged.c.credits
    unpaid = case((left <= 0, 0), (left >= aged.c.charged, aged.c.charged), else_=left)
    in_cutoff = or_(
        false(),
        *(
            and_(aged.c.service_id == sid, aged.c.period_end <= cutoff)
            for sid, cutoff in cutoffs.items()
        ),
    )
    return (
        select(
            aged.c.customer_id,
            aged.c.service_id,
            aged.c.period_id,
            aged.c.period_end,
            unpaid.label("amount"),
        )
        .where(in_cutoff, unpaid > 0)
        .order_by(aged.c.customer_id, aged.c.service_id, aged.c.period_end)
    )


def certifiable_lines(
    session: Session,
    community_id: int,
    as_of: date,
    current_period_end: date,
    period_months: int,
    where: ColumnElement[bool],
) -> list[Line]:
    services = session.scalars(select(Service).where(Service.community_id == community_id))
    cutoffs = {
        s.id: certification_cutoff(current_period_end, s.certification_periods, period_months)
        for s in services
    }
    query = certifiable_lines_query(community_id, as_of, cutoffs, where)
    return [Line(int(c), int(s), int(p), e, int(a)) for c, s, p, e, a in session.execute(query)]
