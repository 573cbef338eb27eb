"""Balances derive from the ledger; credits pay the oldest period first."""

from __future__ import annotations

from datetime import date

from civic.money import parse_amount

SEED_004 = [  # seed 004's worked example: period end, unpaid amount
    ("2010-12-15", "68.27"),
    ("2011-01-15", "70.51"),
    ("2011-02-15", "65.77"),
    ("2011-03-15", "68.88"),
]


def test_seed_004_periods_and_balance(town):
    jane = town.customer("Jane O'Brien")
    for on, amount in SEED_004:
        jane.charge("WA", amount, on)
    # April 2011 is billed and paid in full: 0.00 outstanding in the current period.
    jane.charge("WA", "60.00", "2011-04-10")
    jane.pay("60.00", "2011-04-20", svc="WA")
    report = jane.balance()
    assert report.total == parse_amount("273.43")
    water = report.services[0]
    # Payments apply to the oldest periods first, so the April payment pays December first.
    outstanding = {p.period_end: p.outstanding for p in water.periods}
    assert outstanding[date(2010, 12, 31)] == parse_amount("8.27")
    assert sum(outstanding.values()) == parse_amount("273.43")


def test_seed_004_balance_by_period_without_payments(town):
    jane = town.customer("Jane O'Brien")
    for on, amount in SEED_004:
        jane.charge("WA", amount, on)
    water = jane.balance().services[0]
    assert [(p.period_end, p.outstanding, p.age) for p in water.periods] == [
        (date(2011, 3, 31), 6888, 0),
        (date(2011, 2, 28), 6577, 1),
        (date(2011, 1, 31), 7051, 2),
        (date(2010, 12, 31), 6827, 3),
    ]
    assert water.balance == parse_amount("273.43")


def test_overpayment_is_an_unapplied_credit(town):
    bob = town.customer("Bob Smith")
    bob.charge("SE", "40.00", "2024-01-05")
    bob.pay("100.00", "2024-01-20", svc="SE")
    sewer = bob.balance().services[0]
    assert sewer.balance == -6000
    assert sewer.unapplied_credit == -6000
    assert all(p.outstanding == 0 for p in sewer.periods)


def test_payment_without_service_pays_oldest_periods_across_services(town):
    ann = town.customer("Ann Lee")
    ann.charge("WA", "30.00", "2024-01-05")
    ann.charge("SE", "20.00", "2024-02-05")
    ann.charge("GA", "15.00", "2024-03-05")
    ann.pay("45.00", "2024-03-20")
    by_service = {s.service: s.balance for s in ann.balance().services}
    assert by_service == {"WA": 0, "SE": 500, "GA": 1500}


def test_void_restores_the_balance_and_is_refused_twice(town):
    import pytest

    from civic.errors import Conflict

    ann = town.customer("Ann Lee")
    ann.charge("WA", "30.00", "2024-01-05")
    (payment,) = ann.pay("30.00", "2024-01-20", ref="1001")
    assert ann.balance().total == 0
    ann.void(payment, "2024-01-25")
    assert ann.balance().total == 3000
    with pytest.raises(Conflict, match="already voided"):
        ann.void(payment, "2024-01-26")


def test_balance_as_of_a_date(town):
    ann = town.customer("Ann Lee")
    ann.charge("WA", "30.00", "2024-01-05")
    ann.charge("WA", "31.00", "2024-02-05")
    assert ann.balance(as_of=date(2024, 1, 31)).total == 3000
    assert ann.balance().total == 6100
