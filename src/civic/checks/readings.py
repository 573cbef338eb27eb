"""More than one meter reading for the same meter in the same billing period."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civic.errors import Problem
from civic.ledger.tables import BillingPeriod, MeterReading

NAME = "duplicate-readings"


def check(session: Session) -> Iterator[Problem]:
    groups = session.execute(
        select(MeterReading.meter_number, MeterReading.period_id, BillingPeriod.period_end)
        .join(BillingPeriod, BillingPeriod.id == MeterReading.period_id)
        .group_by(MeterReading.meter_number, MeterReading.period_id, BillingPeriod.period_end)
        .having(func.count() > 1)
        .order_by(MeterReading.meter_number, BillingPeriod.period_end)
    ).all()
    for meter, period_id, period_end in groups:
        rows = session.execute(
            select(MeterReading.id, MeterReading.reading)
            .where(MeterReading.meter_number == meter, MeterReading.period_id == period_id)
            .order_by(MeterReading.id)
        ).all()
        ids = [r[0] for r in rows]
        yield Problem(
            NAME,
            f"meter {meter} has {len(rows)} readings for the period ending "
            f"{period_end.isoformat()} (readings {', '.join(map(str, ids))}: "
            f"{', '.join(str(r[1]) for r in rows)})",
            {"meter": meter, "period_end": period_end.isoformat(), "reading_ids": ids},
            fix="keep the correct reading and correct the others in the meter book",
        )
