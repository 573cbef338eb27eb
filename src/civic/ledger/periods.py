"""Billing periods: period end dates, monthly by default, per community."""

from __future__ import annotations

import calendar
from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from civic.ledger.tables import BillingPeriod, Community


def period_end_for(day: date, period_months: int = 1) -> date:
    """The end date of the billing period containing ``day`` (periods start in January)."""
    end_month = -(-day.month // period_months) * period_months
    return date(day.year, end_month, calendar.monthrange(day.year, end_month)[1])


def previous_period_end(period_end: date, period_months: int = 1) -> date:
    month = period_end.month - period_months
    year = period_end.year
    while month <= 0:
        month += 12
        year -= 1
    return date(year, month, calendar.monthrange(year, month)[1])


def ensure_period(session: Session, community: Community, day: date) -> BillingPeriod:
    """The billing period containing ``day``, created on first use."""
    end = period_end_for(day, community.period_months)
    cache: dict[tuple[int, date], BillingPeriod] = session.info.setdefault("period_cache", {})
    key = (community.id, end)
    period = cache.get(key)
    if period is not None and period in session:
        return period
    period = session.scalar(
        select(BillingPeriod).where(
            BillingPeriod.community_id == community.id, BillingPeriod.period_end == end
        )
    )
    if period is None:
        # Two writers may create the same period at once: the loser's insert does nothing
        # (on PostgreSQL it waits for the winner's commit) and it reads the winner's row.
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(BillingPeriod)
            .values(community_id=community.id, period_end=end)
            .on_conflict_do_nothing(index_elements=["community_id", "period_end"])
        )
        period = session.scalars(
            select(BillingPeriod).where(
                BillingPeriod.community_id == community.id, BillingPeriod.period_end == end
            )
        ).one()
    cache[key] = period
    return period
