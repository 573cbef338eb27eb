"""How an imported VOID row finds the payment it voids, with the same rules as
``postings.post_void``: only a payment (PAY) on the same account, voided at most once; the
void reverses its amount in its service and billing period.

A VOID names its payment by ``voids`` (the payment's ``external_id``) or by ``reference`` (the
check number, which must then match exactly one payment on the account not yet voided). The
payment may be in the ledger already or on an earlier line of the same file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from civic.errors import InvalidInput
from civic.ledger.imports_base import chunked, table_of
from civic.ledger.tables import Transaction
from civic.money import format_cents

TRANSACTIONS = table_of(Transaction)


class Row(Protocol):
    """A checked transaction row (``imports_transactions.TxnRow``)."""

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
    voids: str | None
    given: int | None
    target: Target | None


class Payment(NamedTuple):
    """A payment on an earlier line of the file. A plain tuple, so that holding hundreds of
    thousands of them costs the garbage collector nothing."""

    line: int
    import_key: str
    customer_id: int
    service_id: int
    amount: int
    period_end: date
    reference: str | None


R = TypeVar("R", bound=Row)


@dataclass(slots=True)
class Target:
    """The payment a void reverses: stored (``db_id``) or pending on an earlier line."""

    identity: tuple[str, int | str]
    db_id: int | None
    key: str | None
    kind: str
    customer_id: int
    service_id: int
    amount: int
    period_id: int | None
    period_end: date | None
    reference: str | None


def _pending(p: Payment) -> Target:
    return Target(
        ("key", p.import_key),
        None,
        p.import_key,
        "PAY",
        p.customer_id,
        p.service_id,
        p.amount,
        None,
        p.period_end,
        p.reference,
    )


class InFilePayments:
    """The file's payments a later VOID could name: by import key (= external id) and by
    (customer, reference). Payments rejected after their check are remembered as such."""

    def __init__(self) -> None:
        self.by_key: dict[str, Payment] = {}
        self.by_ref: dict[tuple[int, str], tuple[str, ...]] = {}
        self.rejected: set[str] = set()

    def add(self, row: Row, *, external: bool) -> None:
        if not external and row.reference is None:
            return  # no VOID can name it
        assert row.service_id is not None and row.amount is not None
        assert row.period_end is not None
        payment = Payment(
            row.line,
            row.import_key,
            row.customer_id,
            row.service_id,
            row.amount,
            row.period_end,
            row.reference,
        )
        self.by_key.setdefault(row.import_key, payment)
        if row.reference is not None:
            key = (row.customer_id, row.reference)
            self.by_ref[key] = self.by_ref.get(key, ()) + (row.import_key,)

    def reject(self, import_key: str) -> None:
        if import_key in self.by_key:
            self.rejected.add(import_key)

    def before(self, void: Row) -> list[Payment]:
        assert void.reference is not None
        found = (self.by_key[k] for k in self.by_ref.get((void.customer_id, void.reference), ()))
        return [p for p in found if p.line < void.line and p.import_key not in self.rejected]


class VoidResolver:
    def __init__(self, service_codes: dict[int, str]) -> None:
        self.payments = InFilePayments()
        self.voided: set[tuple[str, int | str]] = set()
        self._codes = service_codes

    def resolve(self, session: Session, voids: Sequence[R]) -> list[tuple[R, str]]:
        """Find each void's payment (``row.target``); returns the rows refused, with why."""
        if not voids:
            return []
        by_reference = {id(v): self.payments.before(v) for v in voids if v.voids is None}
        keys = {v.voids for v in voids if v.voids is not None}
        keys |= {r.import_key for rows in by_reference.values() for r in rows}
        stored = _stored(session, TRANSACTIONS.c.import_key.in_, sorted(keys))
        by_key = {t.key: t for t in stored if t.key is not None}
        pairs = {(v.customer_id, v.reference) for v in voids if v.voids is None}
        by_ref = self._stored_by_reference(session, pairs)
        ids = [t.db_id for t in stored] + [t.db_id for ts in by_ref.values() for t in ts]
        self.voided |= {("id", i) for i in _voided(session, [i for i in ids if i is not None])}
        refused: list[tuple[R, str]] = []
        for void in voids:
            try:
                if void.voids is not None:
                    target = self._by_external_id(void, by_key)
                else:
                    candidates = by_ref.get((void.customer_id, void.reference or ""), [])
                    target = self._by_reference(void, candidates, by_reference[id(void)], by_key)
                self._check(void, target)
            except InvalidInput as exc:
                refused.append((void, exc.message))
                continue
            self.voided.add(target.identity)
            void.target = target
            void.service_id = target.service_id
            void.amount = -target.amount
            void.reference = target.reference  # as post_void: the void carries the check number
        return refused

    def _by_external_id(self, void: Row, by_key: dict[str, Target]) -> Target:
        assert void.voids is not None
        name = repr(void.voids)
        target: Target | None = by_key.get(void.voids)
        if target is None:
            row = self.payments.by_key.get(void.voids)
            if row is None or row.line > void.line:
                raise InvalidInput(
                    f"voids: no payment with external_id {name} in the ledger or on an earlier "
                    "line of this file",
                    field="voids",
                )
            if row.import_key in self.payments.rejected:
                raise InvalidInput(f"voids: payment {name} (line {row.line}) was rejected")
            target = _pending(row)
        if target.kind != "PAY":
            raise InvalidInput(
                f"voids: {name} is a {target.kind}, only payments (PAY) can be voided",
                field="voids",
            )
        if target.customer_id != void.customer_id:
            raise InvalidInput(
                f"voids: payment {name} is not on account {void.account}", field="voids"
            )
        if target.identity in self.voided:
            raise InvalidInput(f"voids: payment {name} was already voided", field="voids")
        return target

    def _by_reference(
        self, void: Row, stored: list[Target], earlier: list[Payment], by_key: dict[str, Target]
    ) -> Target:
        candidates = {t.identity: t for t in stored}
        for row in earlier:
            target = by_key.get(row.import_key) or _pending(row)
            candidates.setdefault(target.identity, target)
        left = [
            t
            for t in candidates.values()
            if t.identity not in self.voided
            and (void.service_id is None or t.service_id == void.service_id)
        ]
        what = f"reference {void.reference!r} on account {void.account}"
        if void.service_id is not None:
            what += f" for service {self._codes[void.service_id]}"
        if not left:
            raise InvalidInput(f"reference: no payment left to void with {what}", field="reference")
        if len(left) > 1:
            raise InvalidInput(
                f"reference: {len(left)} payments with {what}: name one with voids "
                "(its external_id)",
                field="reference",
            )
        return left[0]

    def _check(self, void: Row, target: Target) -> None:
        if void.service_id is not None and void.service_id != target.service_id:
            raise InvalidInput(
                f"service: the voided payment is on {self._codes[target.service_id]}, "
                f"not {self._codes[void.service_id]}",
                field="service",
            )
        if void.reference is not None and void.reference != target.reference:
            raise InvalidInput(
                f"reference: {void.reference!r} is not the voided payment's reference "
                f"({target.reference or 'none'})",
                field="reference",
            )
        if void.given is not None and void.given != -target.amount:
            raise InvalidInput(
                f"amount: {format_cents(void.given)} is not the voided payment's "
                f"{format_cents(-target.amount)}",
                field="amount",
            )

    def _stored_by_reference(
        self, session: Session, pairs: set[tuple[int, str | None]]
    ) -> dict[tuple[int, str], list[Target]]:
        wanted = {(c, r) for c, r in pairs if r is not None}
        refs = sorted({r for _c, r in wanted if r is not None})
        found: dict[tuple[int, str], list[Target]] = {}
        for t in _stored(session, TRANSACTIONS.c.reference.in_, refs, payments_only=True):
            key = (t.customer_id, t.reference or "")
            if key in wanted:
                found.setdefault(key, []).append(t)
        return found

    def params(
        self,
        session: Session,
        voids: Sequence[Row],
        keys: dict[str, int],
        period_ids: dict[date, int],
    ) -> list[dict[str, object]]:
        """Insert parameters of resolved voids; ``keys`` has this batch's new ids by key."""
        missing = sorted(
            {v.target.key for v in voids if v.target and v.target.key and v.target.db_id is None}
            - set(keys)
        )
        keys = dict(keys)
        for found in _stored(session, TRANSACTIONS.c.import_key.in_, missing):
            assert found.key is not None and found.db_id is not None
            keys[found.key] = found.db_id
        params = []
        for v in voids:
            t = v.target
            assert t is not None
            tid = t.db_id if t.db_id is not None else keys[t.key or ""]
            period_id = t.period_id
            if period_id is None:
                assert t.period_end is not None
                period_id = period_ids[t.period_end]
            params.append(
                {
                    "customer_id": v.customer_id,
                    "service_id": t.service_id,
                    "period_id": period_id,
                    "kind": "VOID",
                    "amount_cents": -t.amount,
                    "txn_date": v.txn_date,
                    "description": v.description or f"Void of payment {tid}",
                    "reference": v.reference,
                    "voids_id": tid,
                    "import_key": v.import_key,
                }
            )
        return params


def _stored(
    session: Session,
    where: Callable[[Sequence[Any]], ColumnElement[bool]],
    values: Iterable[Any],
    *,
    payments_only: bool = False,
) -> list[Target]:
    t = TRANSACTIONS.c
    cols = (
        t.id,
        t.import_key,
        t.kind,
        t.customer_id,
        t.service_id,
        t.amount_cents,
        t.period_id,
        t.reference,
    )
    found: list[Target] = []
    for chunk in chunked(list(values)):
        stmt = select(*cols).where(where(chunk))
        if payments_only:
            stmt = stmt.where(t.kind == "PAY")
        for tid, key, kind, cid, sid, amount, pid, ref in session.execute(stmt):
            found.append(Target(("id", tid), tid, key, kind, cid, sid, amount, pid, None, ref))
    return found


def _voided(session: Session, payment_ids: list[int]) -> set[int]:
    t = TRANSACTIONS.c
    voided: set[int] = set()
    for chunk in chunked(sorted(set(payment_ids))):
        stmt = select(t.voids_id).where(t.kind == "VOID", t.voids_id.in_(chunk))
        voided.update(i for i in session.scalars(stmt) if i is not None)
    return voided
