"""What the demo built, counted while it is written: customers by status, transactions by kind,
balances (derived by the ledger's own aging rule), delinquent accounts, readings, orders, the
planted truth, and a few real accounts to try commands on."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from civic.demo.model import Calendar, DemoCustomer, DemoOptions, History, TxnRecord
from civic.demo.truth import TruthGroup
from civic.ledger.balances import age_service
from civic.money import to_decimal

DELINQUENT_PERIODS = 3
"""An account is delinquent when it owes on this many billed periods or more."""


def unpaid_periods(transactions: list[TxnRecord]) -> int:
    """Billed periods with something outstanding, credits applied oldest period first per
    service (``civic.ledger.balances`` rule), counted over all services."""
    debits: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    credits: dict[str, int] = defaultdict(int)
    for t in transactions:
        if t.amount > 0:
            debits[t.service][t.period_end] += t.amount
        else:
            debits[t.service][t.period_end] += 0
            credits[t.service] -= t.amount
    owing: set[date] = set()
    for service, by_period in debits.items():
        aged, _left = age_service(by_period.items(), credits[service])
        owing.update(end for end, _billed, outstanding in aged if outstanding > 0)
    return len(owing)


@dataclass(frozen=True)
class DemoSummary:
    database: str
    community: str
    seed: int
    as_of: date
    customers: int
    customers_by_status: dict[str, int]
    no_online_access: int
    consolidated_members: int
    transactions_by_kind: dict[str, int]
    readings: int
    orders_by_status: dict[str, int]
    refs_by_type: dict[str, int]
    alerts: int
    collection_codes: dict[str, int]
    balance_cents: int
    owed_cents: int
    credit_cents: int
    delinquent_accounts: int
    outbox_rows: int
    truth: dict[str, dict[str, int]]
    seconds: float
    examples: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts as exact decimal strings of dollars."""
        data = asdict(self)
        for key in ("balance_cents", "owed_cents", "credit_cents"):
            data[key.removesuffix("_cents")] = str(to_decimal(data.pop(key)))
        data["as_of"] = self.as_of.isoformat()
        data["seconds"] = round(self.seconds, 2)
        return data


class Tally:
    """Counts kept while customers are written, so the summary needs no second pass."""

    def __init__(self, cal: Calendar) -> None:
        self.cal = cal
        self.status: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.orders: Counter[str] = Counter()
        self.refs: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()
        self.no_online = self.members = self.readings = self.alerts = self.outbox = 0
        self.balance = self.owed = self.credit = 0
        self.delinquent = 0
        self.worst: tuple[int, str] = (0, "")
        self.duplicate: tuple[str, str] | None = None

    def add(self, c: DemoCustomer, story: History) -> None:
        self.status[c.status] += 1
        self.no_online += not c.online_access
        self.members += c.master is not None
        self.refs.update(kind for kind, _ in c.refs)
        self.alerts += len(c.alerts)
        if c.collection_code:
            self.codes[c.collection_code] += 1
        self.kinds.update(t.kind for t in story.transactions)
        self.readings += len(story.readings)
        self.orders.update(o.status for o in story.orders)
        self.outbox += 1 + len(story.transactions) + len(story.readings) + len(story.orders)
        balance = sum(t.amount for t in story.transactions)
        self.balance += balance
        if balance > 0:
            self.owed += balance
        else:
            self.credit += balance
        if balance > 0 and unpaid_periods(story.transactions) >= DELINQUENT_PERIODS:
            self.delinquent += 1
            if balance > self.worst[0]:
                self.worst = (balance, c.number)

    def summary(
        self,
        options: DemoOptions,
        *,
        database: str,
        truth: dict[str, dict[str, int]],
        seconds: float,
    ) -> DemoSummary:
        return DemoSummary(
            database=database,
            community=options.community.strip().upper(),
            seed=options.seed,
            as_of=options.as_of,
            customers=sum(self.status.values()),
            customers_by_status={s: self.status[s] for s in ("active", "inactive", "closed")},
            no_online_access=self.no_online,
            consolidated_members=self.members,
            transactions_by_kind={k: self.kinds[k] for k in ("CHG", "PAY", "PADJ", "FEE", "VOID")},
            readings=self.readings,
            orders_by_status={s: self.orders[s] for s in ("active", "closed")},
            refs_by_type=dict(sorted(self.refs.items())),
            alerts=self.alerts,
            collection_codes=dict(sorted(self.codes.items())),
            balance_cents=self.balance,
            owed_cents=self.owed,
            credit_cents=self.credit,
            delinquent_accounts=self.delinquent,
            outbox_rows=self.outbox,
            truth=truth,
            seconds=seconds,
            examples=self._examples(),
        )

    def note_block(
        self, customers: tuple[DemoCustomer, ...], truth: tuple[TruthGroup, ...]
    ) -> None:
        """Remember one planted duplicate to show: a first-name typo, found by last name."""
        if self.duplicate is not None:
            return
        for group in truth:
            if group.kind == "name_typo" and group.note.startswith("first name"):
                last = next(c.last_name for c in customers if c.number == group.accounts[0])
                self.duplicate = (last or "", " ".join(group.accounts))
                return

    def _examples(self) -> dict[str, str]:
        examples = {"delinquent_account": self.worst[1], "common_name": "smith"}
        if self.duplicate is not None:
            examples["duplicate_last_name"], examples["duplicate_accounts"] = self.duplicate
        return examples
