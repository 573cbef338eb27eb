"""Importing ledger transactions (CHG, PAY, PADJ, FEE, VOID), appended exactly as
``civic post`` would post them.

The file gives what the clerk typed: payments and fees as positive amounts, adjustments with
the sign of their effect on the balance. The stored ``amount_cents`` is the signed effect, as in
``postings``: a PAY is stored negative, a VOID reverses its payment, PADJ and CHG as given.

Each row gets an ``import_key`` (unique in the ledger): the ``external_id`` column if the file
has one, else a hash of the row's content and its occurrence number in the file, so that two
identical payments in one file both load and importing the file again adds nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from civic.errors import InvalidInput
from civic.ledger import outbox
from civic.ledger.customers import now, services_by_code
from civic.ledger.imports_base import (
    Accounts,
    Outcome,
    Parsers,
    Periods,
    Scope,
    batch_audit,
    chunked,
    required,
    table_of,
    text_field,
)
from civic.ledger.imports_voids import Target, VoidResolver
from civic.ledger.tables import KINDS, Community, Transaction
from civic.money import format_cents

TRANSACTIONS = table_of(Transaction)

MAX_CENTS = 10**14
"""A sanity bound (one trillion dollars): anything larger is a typo, not a utility bill."""
_ZERO = {
    "CHG": "amount: a charge cannot be 0.00",
    "PADJ": "amount: an adjustment cannot be 0.00",
}
_POSITIVE = {"PAY": "payment", "FEE": "fee"}


@dataclass(slots=True)
class TxnRow:
    """A checked transaction row. ``amount`` is the signed effect on the balance; a VOID's
    amount, service and period come from the payment it voids (``target``)."""

    line: int
    customer_id: int
    account: str
    kind: str
    service_id: int | None
    amount: int | None
    txn_date: date
    period_end: date | None
    description: str | None
    reference: str | None
    import_key: str
    voids: str | None = None
    given: int | None = None
    target: Target | None = None
    rejected: bool = False


class TransactionImporter:
    def __init__(self, session: Session, scope: Scope, parsers: Parsers) -> None:
        self.scope = scope
        self.parsers = parsers
        self.accounts = Accounts(session, scope, parsers)
        self.periods = Periods(scope)
        community = session.get(Community, scope.community_id)
        assert community is not None
        self.services = {code: s.id for code, s in services_by_code(session, community).items()}
        self.voids = VoidResolver({v: k for k, v in self.services.items()})
        self._occurrences: dict[bytes, int] = {}

    # -- one row ----------------------------------------------------------------------------

    def check(self, values: Mapping[str, str], line: int) -> TxnRow:
        account, customer_id, status = self.accounts.find(values)
        kind = required(values, "kind").upper()
        if kind not in KINDS:
            raise InvalidInput(f"kind: {kind!r} is not one of {', '.join(KINDS)}", field="kind")
        txn_date = self.parsers.date(required(values, "date"), "date")
        external_id = text_field(values, "external_id", 64)
        row = TxnRow(
            line=line,
            customer_id=customer_id,
            account=account,
            kind=kind,
            service_id=self._service(values, optional=kind == "VOID"),
            amount=None,
            txn_date=txn_date,
            period_end=None,
            description=text_field(values, "description", 200),
            reference=text_field(values, "reference", 40),
            import_key="",
        )
        if kind == "VOID":
            self._check_void(row, values)
        else:
            row.amount = self._amount(kind, values)
            if status == "closed" and kind in ("CHG", "FEE"):
                raise InvalidInput(f"account {account} is closed: no new charges", field="kind")
            period = values.get("period", "").strip()
            row.period_end = self.periods.end_for(
                self.parsers.date(period, "period") if period else txn_date
            )
        row.import_key = external_id or self._content_key(row, values)
        if kind == "PAY":
            self.voids.payments.add(row, external=external_id is not None)
        return row

    def _service(self, values: Mapping[str, str], *, optional: bool) -> int | None:
        code = values.get("service", "").strip().upper()
        if not code:
            if optional:
                return None
            raise InvalidInput("service: required", field="service")
        found = self.services.get(code)
        if found is None:
            known = ", ".join(sorted(self.services))
            raise InvalidInput(f"service: no service {code!r} (known: {known})", field="service")
        return found

    def _amount(self, kind: str, values: Mapping[str, str]) -> int:
        amount = self.parsers.money(required(values, "amount"), "amount")
        if abs(amount) >= MAX_CENTS:
            raise InvalidInput(f"amount: {format_cents(amount)} is too large", field="amount")
        if kind in _ZERO and amount == 0:
            raise InvalidInput(_ZERO[kind], field="amount")
        if kind in _POSITIVE and amount <= 0:
            what = _POSITIVE[kind]
            raise InvalidInput(f"amount: a {what} must be more than 0.00", field="amount")
        return -amount if kind == "PAY" else amount

    def _check_void(self, row: TxnRow, values: Mapping[str, str]) -> None:
        row.voids = text_field(values, "voids", 64)
        if row.voids is None and row.reference is None:
            raise InvalidInput(
                "voids: say which payment is voided: its external_id (voids) or its check "
                "number (reference)",
                field="voids",
            )
        text = values.get("amount", "").strip()
        if text:
            row.given = abs(self.parsers.money(text, "amount"))

    def _content_key(self, row: TxnRow, values: Mapping[str, str]) -> str:
        content = "\x1f".join(
            (
                self.scope.community_code,
                row.account,
                row.kind,
                values.get("service", "").strip().upper(),
                str(row.amount if row.amount is not None else row.given),
                row.txn_date.isoformat(),
                row.period_end.isoformat() if row.period_end else "",
                row.description or "",
                row.reference or "",
                row.voids or "",
            )
        )
        digest = hashlib.sha256(content.encode()).digest()[:16]
        occurrence = self._occurrences.get(digest, 0) + 1
        self._occurrences[digest] = occurrence
        return hashlib.sha256(digest + occurrence.to_bytes(4, "big")).hexdigest()

    # -- one batch --------------------------------------------------------------------------

    def apply(self, session: Session, records: list[TxnRow], *, store: bool) -> Outcome:
        outcome = Outcome()
        fresh = self._not_imported(session, records, outcome)
        voids = [r for r in fresh if r.kind == "VOID"]
        for row, reason in self.voids.resolve(session, voids):
            row.rejected = True
            outcome.rejects.append((row.line, reason))
        rows = [r for r in fresh if not r.rejected]
        outcome.added = len(rows)
        if store and rows:
            self._store(session, rows, outcome)
        return outcome

    def _not_imported(
        self, session: Session, records: list[TxnRow], outcome: Outcome
    ) -> list[TxnRow]:
        """Rows whose import key is not in the ledger yet; a stored key with the same values is
        'unchanged', with different values a reject (ledger rows never change)."""
        t = TRANSACTIONS.c
        cols = (t.import_key, t.customer_id, t.kind, t.service_id, t.amount_cents, t.txn_date)
        stored: dict[str, tuple[int, str, int, int, date]] = {}
        for chunk in chunked([r.import_key for r in records]):
            for key, *rest in session.execute(select(*cols).where(t.import_key.in_(chunk))):
                stored[key] = tuple(rest)
        fresh: list[TxnRow] = []
        for row in records:
            found = stored.get(row.import_key)
            if found is None:
                fresh.append(row)
            elif _same(row, found):
                outcome.unchanged += 1
            else:
                row.rejected = True
                if row.kind == "PAY":
                    self.voids.payments.reject(row.import_key)
                outcome.rejects.append(
                    (
                        row.line,
                        f"external_id: {row.import_key} was imported before with different "
                        "values; ledger rows never change: post a correction instead",
                    )
                )
        return fresh

    def _store(self, session: Session, rows: list[TxnRow], outcome: Outcome) -> None:
        plain = [r for r in rows if r.kind != "VOID"]
        voids = [r for r in rows if r.kind == "VOID"]
        ends = {r.period_end for r in plain if r.period_end is not None}
        ends |= {r.target.period_end for r in voids if r.target and r.target.period_end}
        period_ids = self.periods.ids(session, ends)
        stamp = now()
        stmt = insert(TRANSACTIONS).returning(
            TRANSACTIONS.c.id, TRANSACTIONS.c.customer_id, TRANSACTIONS.c.import_key
        )
        added: list[tuple[int, int]] = []
        keys: dict[str, int] = {}
        if plain:
            params = [self._params(r, stamp, period_ids) for r in plain]
            for tid, cid, key in session.execute(stmt, params):
                added.append((tid, cid))
                keys[key] = tid
        if voids:
            params = self.voids.params(session, voids, keys, period_ids)
            for p in params:
                p.update(posted_by=self.scope.actor, posted_at=stamp)
            added += [(tid, cid) for tid, cid, _key in session.execute(stmt, params)]
        community = self.scope.community_id
        outbox.record_many(
            session, [(community, cid, "transaction", tid, "post") for tid, cid in added]
        )
        lines = [r.line for r in rows]
        batch_audit(
            session,
            self.scope,
            "transactions",
            "transaction",
            lines,
            [tid for tid, _ in added],
            outcome,
        )

    def _params(self, row: TxnRow, stamp: object, periods: dict[date, int]) -> dict[str, object]:
        assert row.period_end is not None
        return {
            "customer_id": row.customer_id,
            "service_id": row.service_id,
            "period_id": periods[row.period_end],
            "kind": row.kind,
            "amount_cents": row.amount,
            "txn_date": row.txn_date,
            "description": row.description,
            "reference": row.reference,
            "voids_id": None,
            "posted_by": self.scope.actor,
            "posted_at": stamp,
            "import_key": row.import_key,
        }


def _same(row: TxnRow, stored: tuple[int, str, int, int, date]) -> bool:
    customer_id, kind, service_id, amount, txn_date = stored
    if (row.customer_id, row.kind, row.txn_date) != (customer_id, kind, txn_date):
        return False
    return row.kind == "VOID" or (row.service_id, row.amount) == (service_id, amount)
