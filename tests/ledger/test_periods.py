"""Billing periods are created on first use, once, even when two writers need one at once."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from civic.db import transaction
from civic.ledger import service
from civic.ledger.periods import ensure_period
from civic.ledger.tables import BillingPeriod
from tests.builders import Town


def test_two_writers_creating_one_period_share_it(town: Town, engine: Engine) -> None:
    town.customer("Ann Lee", account="1000-01")
    first_inserted = threading.Event()
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction(engine) as s:
                results["first"] = ensure_period(s, service.get_community(s), date(2031, 5, 3)).id
                first_inserted.set()
                # hold the transaction open while the second writer asks for the same period
                threading.Event().wait(0.5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_inserted.set()

    def second() -> None:
        first_inserted.wait(5)
        try:
            with transaction(engine) as s:
                results["second"] = ensure_period(s, service.get_community(s), date(2031, 5, 20)).id
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert results["first"] == results["second"]
    with transaction(engine) as s:
        count = s.scalar(select(func.count()).where(BillingPeriod.period_end == date(2031, 5, 31)))
    assert count == 1
