"""What the account page shows, shaped for the templates: balances by service aged by period,
the history with voided rows marked, and the 24-month chart's geometry (drawn as inline SVG)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from civic.money import format_cents
from civic.portal.store.records import CustomerRecord

PAYMENT_STATUS = {
    "paid": "Paid in full",
    "credit": "In credit",
    "due": "Due",
    "past_due": "Past due",
}
KINDS = {
    "CHG": "Charge",
    "PAY": "Payment",
    "PADJ": "Adjustment",
    "FEE": "Fee",
    "VOID": "Void",
}
AGES = ("Current", "1 period ago", "2 periods ago", "Older")


@dataclass(frozen=True)
class AgedRow:
    service: str
    name: str
    buckets: tuple[int, int, int, int]
    credit: int
    balance: int


def aged(record: CustomerRecord) -> tuple[list[AgedRow], AgedRow]:
    """One row per service (outstanding by age of period; unapplied credit) and the totals."""
    rows = []
    for s in record.services:
        buckets = [0, 0, 0, 0]
        for p in s.periods:
            buckets[min(p.age, 3)] += p.outstanding
        rows.append(
            AgedRow(s.service, s.name, (buckets[0], buckets[1], buckets[2], buckets[3]),
                    s.unapplied_credit, s.balance)
        )  # fmt: skip
    total = AgedRow(
        "",
        "Total",
        (
            sum(r.buckets[0] for r in rows),
            sum(r.buckets[1] for r in rows),
            sum(r.buckets[2] for r in rows),
            sum(r.buckets[3] for r in rows),
        ),
        sum(r.credit for r in rows),
        sum(r.balance for r in rows),
    )
    return rows, total


@dataclass(frozen=True)
class HistoryRow:
    txn_date: date
    kind: str
    service: str
    period_end: date
    description: str
    amount: int
    voided: bool


def history(record: CustomerRecord) -> list[HistoryRow]:
    voided = {t.voids_id for t in record.transactions if t.kind == "VOID"}
    return [
        HistoryRow(
            t.txn_date,
            KINDS.get(t.kind, t.kind),
            t.service,
            t.period_end,
            t.description or t.reference or "",
            t.amount,
            t.id in voided,
        )
        for t in record.transactions
    ]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    """Billed (charges and fees) and paid per month, the last 24 months."""

    width: int
    height: int
    top: int
    baseline: int
    bar_width: float
    billed: list[Bar]
    paid: list[Bar]
    ticks: list[tuple[float, str]]
    grid: list[tuple[float, str]]
    total_billed: int
    total_paid: int
    months: int
    first: str
    last: str


def _months(end: date, count: int) -> list[tuple[int, int]]:
    index = end.year * 12 + end.month - 1
    return [divmod(index - i, 12) for i in range(count - 1, -1, -1)]


def chart(record: CustomerRecord, end: date, months: int = 24) -> Chart:
    voided = {t.voids_id for t in record.transactions if t.kind == "VOID"}
    keys = [(y, m + 1) for y, m in _months(end, months)]
    billed = dict.fromkeys(keys, 0)
    paid = dict.fromkeys(keys, 0)
    for t in record.transactions:
        key = (t.txn_date.year, t.txn_date.month)
        if key not in billed or t.id in voided:
            continue
        if t.kind in ("CHG", "FEE"):
            billed[key] += t.amount
        elif t.kind == "PAY":
            paid[key] += -t.amount
    width, height, left, top, bottom = 480, 220, 44, 12, 30
    baseline = height - bottom
    plot = baseline - top
    peak = max([*billed.values(), *paid.values(), 1])
    step = _nice(peak)
    ceiling = step * -(-peak // step)
    slot = (width - left - 6) / months
    bar = slot * 0.38

    def h(cents: int) -> float:
        return round(max(cents, 0) / ceiling * plot, 1)

    b_bars, p_bars, ticks = [], [], []
    for i, key in enumerate(keys):
        x = left + i * slot + slot * 0.1
        name = date(key[0], key[1], 1).strftime("%b %Y")
        hb, hp = h(billed[key]), h(paid[key])
        b_bars.append(
            Bar(round(x, 1), baseline - hb, hb, f"{name}: billed {format_cents(billed[key])}")
        )
        p_bars.append(
            Bar(round(x + bar, 1), baseline - hp, hp, f"{name}: paid {format_cents(paid[key])}")
        )
        if key[1] in (1, 7):
            ticks.append((round(x + bar, 1), date(key[0], key[1], 1).strftime("%b %Y")))
    grid = [
        (round(baseline - v / ceiling * plot, 1), format_cents(v).split(".")[0])
        for v in range(0, ceiling + 1, step)
    ]
    first = date(keys[0][0], keys[0][1], 1).strftime("%B %Y")
    last = date(keys[-1][0], keys[-1][1], 1).strftime("%B %Y")
    return Chart(width, height, top, baseline, round(bar, 1), b_bars, p_bars, ticks, grid,
                 sum(billed.values()), sum(paid.values()), months, first, last)  # fmt: skip


def _nice(peak: int) -> int:
    """A round grid step (in cents) giving three to five lines up to ``peak``."""
    for dollars in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if peak / (dollars * 100) <= 4:
            return dollars * 100
    return 100 * 100 * (peak // (100 * 100 * 4) + 1)
