"""What every kind of import shares: the scope it runs in (community, actor, file), the
importer protocol (``check`` one row, ``apply`` one batch), cached lookups of accounts, dates,
amounts and billing periods, and bulk audit rows.

A row check raises ``InvalidInput`` (the ledger's own validators do); its message becomes the
row's reason in the rejects file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, TypeVar

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from civic.errors import InvalidInput
from civic.ledger.accounts import parse_account_number
from civic.ledger.customers import now
from civic.ledger.parsing import blank_to_none, parse_date, parse_money
from civic.ledger.periods import ensure_period, period_end_for
from civic.ledger.tables import AuditEntry, Base, Community, Customer
from civic.money import Cents

T = TypeVar("T")
LOOKUP_CHUNK = 500
"""Keys per ``IN (...)`` lookup: well inside SQLite's and PostgreSQL's parameter limits."""
_CACHE_LIMIT = 200_000


def table_of(entity: type[Base]) -> Table:
    """The Core table of a mapped class, for bulk statements."""
    table = entity.__table__
    assert isinstance(table, Table)
    return table


AUDIT = table_of(AuditEntry)


@dataclass(frozen=True)
class Scope:
    """Where an import writes and who it is: the community, the actor, the file's name."""

    community_id: int
    community_code: str
    period_months: int
    actor: str
    source: str


@dataclass
class Outcome:
    """What one batch did (or, when not storing, would do)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)
    attached_by_reference: int = 0
    attached_by_score: int = 0
    held: int = 0
    created: int = 0
    """Customers created after screening (see ``imports_screen``)."""


class Importer(Protocol):
    """One kind of import. ``check`` validates a row (raising ``InvalidInput``) and returns
    its record; ``apply`` looks a batch of records up in the database and, if ``store``,
    writes them with their outbox and audit rows (never committing)."""

    def check(self, values: Mapping[str, str], line: int) -> Any: ...

    def apply(self, session: Session, records: list[Any], *, store: bool) -> Outcome: ...


def chunked(items: Sequence[T], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def required(values: Mapping[str, str], name: str, what: str = "required") -> str:
    text = values.get(name, "").strip()
    if not text:
        raise InvalidInput(f"{name}: {what}", field=name)
    return text


def text_field(values: Mapping[str, str], name: str, limit: int) -> str | None:
    text = blank_to_none(values.get(name))
    if text is not None and len(text) > limit:
        raise InvalidInput(f"{name}: longer than {limit} characters ({len(text)})", field=name)
    return text


def jsonable(value: Any) -> Any:
    """``value`` with dates as ISO text, ready for the audit log's JSON column."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


class Parsers:
    """The ledger's parsers with a memo: exports repeat the same dates, amounts and accounts
    on many rows, and a dictionary hit is far cheaper than a parse."""

    def __init__(self) -> None:
        self._dates: dict[str, date] = {}
        self._money: dict[str, Cents] = {}
        self._accounts: dict[str, str] = {}

    def date(self, text: str, name: str) -> date:
        found = self._dates.get(text)
        if found is None:
            found = parse_date(text, name)
            self._dates[text] = found
        return found

    def money(self, text: str, name: str) -> Cents:
        found = self._money.get(text)
        if found is None:
            found = parse_money(text, name)
            if len(self._money) > _CACHE_LIMIT:
                self._money.clear()
            self._money[text] = found
        return found

    def account(self, text: str, name: str = "account_number") -> str:
        found = self._accounts.get(text)
        if found is None:
            found = str(parse_account_number(text, name))
            if len(self._accounts) > _CACHE_LIMIT:
                self._accounts.clear()
            self._accounts[text] = found
        return found


class Accounts:
    """The community's customers by account number (loaded once per import)."""

    def __init__(self, session: Session, scope: Scope, parsers: Parsers) -> None:
        rows = session.execute(
            select(
                Customer.account_number, Customer.id, Customer.status, Customer.merged_into_id
            ).where(Customer.community_id == scope.community_id)
        ).all()
        self._by_number = {number: (cid, status) for number, cid, status, _ in rows}
        numbers = {cid: number for number, cid, _, _ in rows}
        self._merged = {number: numbers.get(into) for number, _, _, into in rows if into}
        self._scope = scope
        self._parsers = parsers

    def find(self, values: Mapping[str, str]) -> tuple[str, int, str]:
        """(account number, customer id, status) of the row's account, or ``InvalidInput``."""
        number = self._parsers.account(required(values, "account_number"))
        found = self.get(number)
        if found is None:
            raise InvalidInput(
                f"account_number: no customer with account {number} in community "
                f"{self._scope.community_code}",
                field="account_number",
            )
        return number, found[0], found[1]

    def add(self, number: str, customer_id: int) -> None:
        """Remember a customer the import created."""
        self._by_number[number] = (customer_id, "active")

    def get(self, number: str) -> tuple[int, str] | None:
        """(customer id, status) of a parsed account number, None when there is no such
        account, ``InvalidInput`` when it was merged away."""
        found = self._by_number.get(number)
        if found is None:
            return None
        if number in self._merged:
            survivor = self._merged[number]
            raise InvalidInput(
                f"account_number: account {number} was merged into {survivor}: use {survivor}",
                field="account_number",
            )
        return found


class Periods:
    """Billing-period ids by period end, created on first use (``periods.ensure_period``) and
    remembered for the rest of the import."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._ids: dict[date, int] = {}
        self._ends: dict[date, date] = {}

    def end_for(self, day: date) -> date:
        end = self._ends.get(day)
        if end is None:
            end = self._ends[day] = period_end_for(day, self._scope.period_months)
        return end

    def ids(self, session: Session, ends: set[date]) -> dict[date, int]:
        missing = ends.difference(self._ids)
        if missing:
            community = session.get(Community, self._scope.community_id)
            assert community is not None
            for end in sorted(missing):
                self._ids[end] = ensure_period(session, community, end).id
        return self._ids


def refresh_statistics(session: Session, tables: Sequence[Table]) -> None:
    """Let PostgreSQL re-plan the import's look-ups for the tables' new size.

    The driver prepares a look-up repeated in every batch, and PostgreSQL caches its plan; made
    while a table was still empty, that plan stays a sequential scan as the table grows by a
    million rows (nothing invalidates it when autovacuum is off or behind). ``ANALYZE``
    refreshes the statistics and invalidates the cached plans. SQLite needs nothing.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(text(f"ANALYZE {table.name}"))


def audit_rows(
    session: Session,
    scope: Scope,
    entries: Sequence[tuple[str, str, int | None, int | None, Mapping[str, Any]]],
) -> None:
    """Insert audit entries ``(action, entity, entity_id, customer_id, changes)`` at once;
    ``changes`` must be JSON-ready already (see ``jsonable``)."""
    if not entries:
        return
    at = now()
    session.execute(
        insert(AUDIT),
        [
            {
                "at": at,
                "actor": scope.actor,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "customer_id": customer_id,
                "changes": changes,
            }
            for action, entity, entity_id, customer_id, changes in entries
        ],
    )


def batch_audit(
    session: Session,
    scope: Scope,
    kind: str,
    entity: str,
    lines: Sequence[int],
    ids: list[int],
    outcome: Outcome,
) -> None:
    """One audit entry for a stored batch: the file, its line range, what it did and the range
    of ids it added or changed."""
    if not ids:
        return
    changes = {
        "file": scope.source,
        "lines": [min(lines), max(lines)],
        "added": outcome.added,
        "updated": outcome.updated,
        "unchanged": outcome.unchanged,
        "rejected": len(outcome.rejects),
        "ids": [min(ids), max(ids)],
    }
    audit_rows(session, scope, [(f"import.{kind}", entity, None, None, changes)])
