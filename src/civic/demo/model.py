"""The records the generator produces, before they have database ids: the options of one demo
town, its billing calendar, customers, and each customer's transactions, meter readings and
orders. All frozen; amounts are integer cents, signed as stored in the ledger."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from random import Random
from typing import NamedTuple

from civic.errors import InvalidInput

DEFAULT_SEED = 42
DEFAULT_CUSTOMERS = 5_000
DEFAULT_AS_OF = date(2026, 10, 31)
DEFAULT_COMMUNITY = "MAPLEFALLS"
COMMUNITY_NAME = "City of Maple Falls"
MIN_CUSTOMERS = 100
MAX_CUSTOMERS = 1_000_000
HISTORY_MONTHS = 24
SERVICES = ("WA", "SE", "GA")
POSTED_BY = "demo"


@dataclass(frozen=True)
class DemoOptions:
    """What to build: the seed decides everything else."""

    seed: int = DEFAULT_SEED
    customers: int = DEFAULT_CUSTOMERS
    as_of: date = DEFAULT_AS_OF
    community: str = DEFAULT_COMMUNITY

    def __post_init__(self) -> None:
        if not MIN_CUSTOMERS <= self.customers <= MAX_CUSTOMERS:
            raise InvalidInput(
                f"customers: {self.customers} is not between {MIN_CUSTOMERS:,} and "
                f"{MAX_CUSTOMERS:,}",
                field="customers",
            )
        if self.as_of.year < 1990:
            raise InvalidInput("as_of: must be in 1990 or later", field="as_of")


@lru_cache(maxsize=4096)
def month_end(year: int, month: int) -> date:
    """The last day of ``month`` (which may be outside 1..12: it rolls over years)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True)
class Calendar:
    """The monthly billing periods: 24 billed periods ending at month ends, the last one in
    the month before ``as_of``; payments made after it fall in ``current`` (as_of's month)."""

    as_of: date
    period_ends: tuple[date, ...]
    current: date

    @classmethod
    def for_as_of(cls, as_of: date) -> Calendar:
        ends = tuple(
            month_end(as_of.year, as_of.month - HISTORY_MONTHS + i) for i in range(HISTORY_MONTHS)
        )
        return cls(as_of=as_of, period_ends=ends, current=month_end(as_of.year, as_of.month))

    @property
    def all_period_ends(self) -> tuple[date, ...]:
        return (*self.period_ends, self.current)

    def day_in_period(self, index: int, rng: Random) -> date:
        """A day in the month of billed period ``index``."""
        end = self.period_ends[index]
        return end - timedelta(days=rng.randint(0, end.day - 1))

    def period_of(self, day: date) -> date:
        return month_end(day.year, day.month)


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    """One customer account. ``start``/``end`` bound the billed periods (indexes into the
    calendar, ``end`` exclusive); ``behaviour`` says how the customer pays, ``unpaid`` how many
    trailing periods a delinquent customer left unpaid; ``master`` is the consolidated-billing
    master's account number."""

    number: str
    location: int
    occupant: int
    first_name: str | None
    middle_name: str | None
    last_name: str | None
    suffix: str | None
    business_name: str | None
    service_address: str
    mailing_address: str | None
    city: str
    state: str
    zip: str
    phone: str | None
    email: str | None
    status: str
    online_access: bool
    collection_code: str | None
    master: str | None
    created_date: date
    refs: tuple[tuple[str, str], ...]
    alerts: tuple[str, ...]
    services: tuple[str, ...]
    start: int
    end: int
    behaviour: str
    unpaid: int = 0
    garbage_cart: int = 64
    is_business: bool = False


class TxnRecord(NamedTuple):
    """One ledger row. ``voids`` is the index, in the same customer's list, of the payment a
    VOID reverses."""

    service: str
    kind: str
    amount: int
    txn_date: date
    period_end: date
    description: str
    reference: str | None
    voids: int | None


class ReadingRecord(NamedTuple):
    meter: str
    period_end: date
    reading: int
    read_date: date


class OrderRecord(NamedTuple):
    number: str
    kind: str
    status: str
    start_date: date
    end_date: date | None
    description: str


class History(NamedTuple):
    transactions: list[TxnRecord]
    readings: list[ReadingRecord]
    orders: list[OrderRecord]
