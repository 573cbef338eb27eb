"""One customer's 24 months: meter readings, water / sewer / garbage charges, payments as the
customer's habit dictates (prompt, late, partial, delinquent, in credit), late and
returned-check fees, leak adjustments, voided checks, and service / purchase orders.

Pure and deterministic: a customer's history depends only on the seed and the customer, never
on which load batch it falls in. Money is integer cents, signed as the ledger stores it.
"""

from __future__ import annotations

from datetime import date, timedelta
from random import Random

from civic.demo.model import (
    HISTORY_MONTHS,
    Calendar,
    DemoCustomer,
    History,
    OrderRecord,
    ReadingRecord,
    TxnRecord,
)

SEASON_PCT = (90, 88, 92, 100, 112, 128, 150, 152, 130, 108, 95, 90)
"""Water use by calendar month, in percent of the location's usual use."""
WATER_BASE, WATER_PER_KGAL = 1850, 452
SEWER_BASE, SEWER_PER_KGAL, SEWER_CAP_GAL = 2675, 388, 8000
GARBAGE_BY_CART = {64: 2295, 96: 3090}
LATE_FEE, SMALL_LATE_FEE, RETURNED_CHECK_FEE = 1000, 500, 2500
SERVICE_NAMES = {"WA": "Water", "SE": "Sewer", "GA": "Garbage"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SERVICE_ORDER_TEXT = (
    "Meter replacement",
    "Leak investigation",
    "Sewer lateral inspection",
    "Replace damaged garbage cart",
    "Re-read meter at customer request",
)
PURCHASE_ORDER_TEXT = "Utility assistance (County Human Services)"


def meter_number(location: int) -> str:
    """The meter at a service location: stable for the location, whoever lives there."""
    return f"W{location * 48271 % 99_999_989:08d}"


def meter_series(
    seed: int, location: int, cal: Calendar, business: bool = False
) -> list[tuple[int, int]]:
    """(reading at period end, consumption in gallons) for every billed period of a location:
    one meter, one running count, shared by successive occupants."""
    rng = Random(f"civic-demo:{seed}:meter:{location}")
    usual = rng.randint(12_000, 40_000) if business else rng.randint(2_500, 9_000)
    reading = rng.randint(1_000, 900_000)
    series: list[tuple[int, int]] = []
    for end in cal.period_ends:
        used = max(0, usual * SEASON_PCT[end.month - 1] // 100 + rng.randint(-700, 700))
        reading += used
        series.append((reading, used))
    return series


def _scaled(amount: int, year: int, first_year: int) -> int:
    """Rates rise 3% every January after the first billed year (integer cents, rounded down)."""
    for _ in range(year - first_year):
        amount = amount * 103 // 100
    return amount


def charges_for(
    customer: DemoCustomer, cal: Calendar, index: int, used: int | None
) -> list[tuple[str, int]]:
    """The charges of billed period ``index``: (service, cents) for each service billed."""
    end = cal.period_ends[index]
    first = cal.period_ends[0].year
    gallons = 5_000 if used is None else used
    out: list[tuple[str, int]] = []
    for svc in customer.services:
        if svc == "WA":
            base = WATER_BASE + gallons * WATER_PER_KGAL // 1000
        elif svc == "SE":
            base = SEWER_BASE + min(gallons, SEWER_CAP_GAL) * SEWER_PER_KGAL // 1000
        else:
            base = GARBAGE_BY_CART[customer.garbage_cart]
        out.append((svc, _scaled(base, end.year, first)))
    return out


class _Payer:
    """How a customer pays: by check (numbered), online (a confirmation number) or at the
    counter; the check number is the payment's reference, as on a deposit slip."""

    def __init__(self, rng: Random) -> None:
        roll = rng.random()
        self.kind = "check" if roll < 0.3 else "online" if roll < 0.8 else "counter"
        self.next_check = rng.randint(1001, 8999)
        self.rng = rng

    def reference(self) -> str | None:
        if self.kind == "check":
            self.next_check += 1
            return str(self.next_check)
        if self.kind == "online":
            return f"WEB{self.rng.randint(10_000_000, 99_999_999)}"
        return None

    @property
    def description(self) -> str:
        return {"check": "Check payment", "online": "Online payment"}.get(
            self.kind, "Counter payment"
        )


class _Book:
    """The rows of one customer in the order they happen, and what is owed per service."""

    def __init__(self, customer: DemoCustomer, cal: Calendar) -> None:
        self.cal = cal
        self.rows: list[TxnRecord] = []
        self.owed: dict[str, int] = {svc: 0 for svc in customer.services}
        self.first = customer.services[0] if customer.services else "GA"

    def post(
        self,
        service: str,
        kind: str,
        amount: int,
        day: date,
        description: str,
        reference: str | None = None,
        voids: int | None = None,
        period: date | None = None,
    ) -> int:
        end = period or self.cal.period_of(day)
        self.rows.append(TxnRecord(service, kind, amount, day, end, description, reference, voids))
        self.owed[service] = self.owed.get(service, 0) + amount
        return len(self.rows) - 1

    def pay_all(self, day: date, payer: _Payer) -> list[int]:
        """Pay everything owed, one PAY row per service (as a split payment is posted)."""
        ref = payer.reference()
        due = [(svc, owed) for svc, owed in self.owed.items() if owed > 0]
        return [self.post(svc, "PAY", -owed, day, payer.description, ref) for svc, owed in due]

    def pay_amount(self, day: date, amount: int, payer: _Payer) -> list[int]:
        """Pay a fixed amount: services in order up to what each owes, any rest as a credit."""
        ref = payer.reference()
        rows: list[int] = []
        left = amount
        for svc, owed in list(self.owed.items()):
            take = min(left, owed)
            if take > 0:
                rows.append(self.post(svc, "PAY", -take, day, payer.description, ref))
                left -= take
        if left > 0:
            rows.append(self.post(self.first, "PAY", -left, day, payer.description, ref))
        return rows

    def void(self, pays: list[int], day: date) -> None:
        """A returned check: a VOID reversing each of its rows, and a returned-check fee."""
        for j in pays:
            row = self.rows[j]
            self.post(
                row.service,
                "VOID",
                -row.amount,
                day,
                f"Returned check {row.reference}",
                row.reference,
                voids=j,
                period=row.period_end,
            )
        self.post(self.first, "FEE", RETURNED_CHECK_FEE, day, "Returned check fee")


def history(customer: DemoCustomer, cal: Calendar, seed: int) -> History:
    """Everything that happened on ``customer``'s account in the 24 billed months."""
    rng = Random(f"civic-demo:{seed}:history:{customer.number}")
    book = _Book(customer, cal)
    readings: list[ReadingRecord] = []
    if customer.behaviour == "misapplied":
        day = cal.day_in_period(rng.randrange(customer.start, customer.end), rng)
        amount = rng.randint(30, 90) * 100
        book.post(book.first, "PAY", -amount, day, "Counter payment (posted to this account)")
    elif customer.behaviour != "none":
        _bill_and_pay(customer, cal, seed, rng, book, readings)
    return History(book.rows, readings, orders(customer, cal, rng))


def _bill_and_pay(
    customer: DemoCustomer,
    cal: Calendar,
    seed: int,
    rng: Random,
    book: _Book,
    readings: list[ReadingRecord],
) -> None:
    water = "WA" in customer.services
    series = meter_series(seed, customer.location, cal, customer.is_business) if water else None
    meter = meter_number(customer.location)
    payer = _Payer(rng)
    leak = rng.randrange(customer.start, customer.end) if water and rng.random() < 0.02 else -1
    partial = rng.randint(14, 26) * 500
    may_void = payer.kind == "check" and customer.behaviour in ("prompt", "late", "credit")
    for i in range(customer.start, customer.end):
        end = cal.period_ends[i]
        used = series[i][1] if series else None
        if series:
            read_date = end - timedelta(days=rng.randint(0, 3))
            readings.append(ReadingRecord(meter, end, series[i][0], read_date))
        bill = charges_for(customer, cal, i, used)
        for svc, cents in bill:
            label = f"{SERVICE_NAMES[svc]} {MONTHS[end.month - 1]} {end.year}"
            book.post(svc, "CHG", cents, end, label)
        if i == leak:
            cut = dict(bill)["WA"] * rng.randint(30, 60) // 100
            book.post("WA", "PADJ", -cut, end + timedelta(days=3), "Leak adjustment")
        due = end + timedelta(days=rng.randint(8, 26))
        pays = _settle(customer, cal, i, due, book, payer, partial)
        if pays and may_void and i < customer.end - 2 and rng.random() < 0.05:
            void_day = due + timedelta(days=rng.randint(4, 9))
            if void_day <= cal.as_of:
                book.void(pays, void_day)
                may_void = False


def _settle(
    customer: DemoCustomer,
    cal: Calendar,
    i: int,
    due: date,
    book: _Book,
    payer: _Payer,
    partial: int,
) -> list[int]:
    """The customer's response to bill ``i``: the payment rows posted (none if unpaid)."""
    end = cal.period_ends[i]
    fee_day = end + timedelta(days=25)
    behaviour = customer.behaviour
    if due > cal.as_of:
        return []
    if behaviour == "late" and (i - customer.start) % 2 == 0 and i < customer.end - 1:
        if fee_day <= cal.as_of:
            book.post(book.first, "FEE", SMALL_LATE_FEE, fee_day, "Late fee")
        return []
    if behaviour == "delinquent" and i >= customer.end - customer.unpaid:
        if fee_day <= cal.as_of:
            book.post(book.first, "FEE", LATE_FEE, fee_day, "Late fee")
        return []
    if behaviour == "partial":
        return book.pay_amount(due, partial, payer)
    pays = book.pay_all(due, payer)
    if behaviour == "credit" and i == customer.end - 1:
        # A second payment on the same day: the account ends in credit.
        pays += book.pay_amount(due, (i % 5 + 2) * 1000, payer)
    return pays


def orders(customer: DemoCustomer, cal: Calendar, rng: Random) -> list[OrderRecord]:
    """Service orders (turn on, final read, shut-off, repairs) and, for customers with a social
    services reference, purchase orders from the assistance agency."""
    out: list[OrderRecord] = []

    def add(prefix: str, kind: str, status: str, start: date, end: date | None, text: str) -> None:
        number = f"{prefix}-{customer.number}-{len(out) + 1}"
        out.append(OrderRecord(number, kind, status, start, end, text))

    last = HISTORY_MONTHS
    if customer.start > 0 and rng.random() < 0.7:
        day = customer.created_date
        add("SO", "service", "closed", day, day, "Turn on service for new occupant")
    if customer.end < last and rng.random() < 0.6:
        day = cal.period_ends[customer.end - 1] - timedelta(days=rng.randint(0, 5))
        add("SO", "service", "closed", day, day, "Final read and turn off")
    if customer.behaviour == "delinquent" and customer.end == last and customer.unpaid >= 4:
        if rng.random() < 0.5:
            day = min(cal.as_of, cal.period_ends[-1] + timedelta(days=12))
            add("SO", "service", "active", day, None, "Shut-off for non-payment")
    if customer.services and customer.behaviour != "none" and rng.random() < 0.06:
        day = cal.day_in_period(rng.randrange(customer.start, customer.end), rng)
        finish = min(cal.as_of, day + timedelta(days=rng.randint(0, 14)))
        add("SO", "service", "closed", day, finish, rng.choice(SERVICE_ORDER_TEXT))
    if any(kind == "ssr" for kind, _ in customer.refs) and rng.random() < 0.8:
        if rng.random() < 0.5:
            start = cal.as_of - timedelta(days=rng.randint(10, 170))
            ends = start + timedelta(days=rng.randint(180, 365))
            add("PO", "purchase", "active", start, ends, PURCHASE_ORDER_TEXT)
        else:
            start = cal.period_ends[0] + timedelta(days=rng.randint(0, 300))
            ends = start + timedelta(days=rng.randint(60, 180))
            add("PO", "purchase", "closed", start, ends, PURCHASE_ORDER_TEXT)
    return out
