"""Importing the records linked to customers: meter readings and orders, with the rules of
``records.add_reading`` and ``records.add_order``.

Readings are never changed: a row with the same meter, billing period, reading and read date
as a stored one (or an earlier row of the file) is a duplicate and skipped. Orders are keyed by
order number: a new one is added, an identical one left alone, a differing one updated with an
audited diff (a blank kind or status leaves the stored value alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from civic.errors import InvalidInput
from civic.ledger import outbox
from civic.ledger.accounts import parse_account_number
from civic.ledger.customers import check_ref, clean_customer_values, now
from civic.ledger.imports_base import (
    Accounts,
    Outcome,
    Parsers,
    Periods,
    Scope,
    audit_rows,
    batch_audit,
    chunked,
    jsonable,
    required,
    table_of,
    text_field,
)
from civic.ledger.imports_csv import Columns
from civic.ledger.imports_customers import CustomerImporter, CustomerRow
from civic.ledger.imports_screen import (
    PASSES,
    Attachment,
    Incoming,
    Screening,
    Verdict,
    attach,
    defer,
)
from civic.ledger.tables import ORDER_STATUSES, BillingPeriod, MeterReading, Order

READINGS = table_of(MeterReading)
ORDERS = table_of(Order)
PERIODS = table_of(BillingPeriod)

MAX_READING = 10**15
ORDER_KINDS = ("purchase", "service")
_ORDER_FIELDS = ("kind", "status", "start_date", "end_date", "description")
IDENTITY_FIELDS = (
    "first_name",
    "middle_name",
    "last_name",
    "suffix",
    "business_name",
    "service_address",
    "mailing_address",
    "city",
    "state",
    "zip",
    "phone",
    "email",
)
"""Customer columns an orders file may carry, so that a row without a known account number
can be matched to its customer (with ``ref:TYPE`` columns)."""

ReadingKey = tuple[str, date, int, date]
"""(meter, period end, reading, read date): what makes two readings the same."""


@dataclass(slots=True)
class ReadingRow:
    line: int
    customer_id: int
    meter: str
    reading: int
    read_date: date
    period_end: date

    @property
    def key(self) -> ReadingKey:
        return (self.meter, self.period_end, self.reading, self.read_date)


def parse_reading(text: str) -> int:
    """A meter reading: a whole number, 0 or more (thousands separators allowed)."""
    digits = text.strip().replace(",", "")
    if digits.startswith("-") and digits[1:].isdigit():
        raise InvalidInput("reading: cannot be negative", field="reading")
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidInput(f"reading: {text!r} is not a whole number", field="reading")
    value = int(digits)
    if value >= MAX_READING:
        raise InvalidInput(f"reading: {text!r} is too large", field="reading")
    return value


class ReadingImporter:
    def __init__(self, session: Session, scope: Scope, parsers: Parsers) -> None:
        self.scope = scope
        self.parsers = parsers
        self.accounts = Accounts(session, scope, parsers)
        self.periods = Periods(scope)
        self._seen: set[ReadingKey] = set()

    def check(self, values: Mapping[str, str], line: int) -> ReadingRow:
        _account, customer_id, _status = self.accounts.find(values)
        meter = required(values, "meter")
        if len(meter) > 20:
            raise InvalidInput("meter: 1 to 20 characters", field="meter")
        reading = parse_reading(required(values, "reading"))
        read_date = self.parsers.date(required(values, "date"), "date")
        period = values.get("period", "").strip()
        period_end = self.periods.end_for(
            self.parsers.date(period, "period") if period else read_date
        )
        return ReadingRow(line, customer_id, meter, reading, read_date, period_end)

    def apply(self, session: Session, records: list[ReadingRow], *, store: bool) -> Outcome:
        stored = self._stored(session, sorted({r.meter for r in records}))
        outcome = Outcome()
        new: list[ReadingRow] = []
        for row in records:
            key = row.key
            if key in stored or key in self._seen:
                outcome.unchanged += 1
            else:
                self._seen.add(key)
                new.append(row)
        outcome.added = len(new)
        if store and new:
            self._insert(session, new, outcome)
        return outcome

    def _stored(self, session: Session, meters: list[str]) -> set[ReadingKey]:
        r, p = READINGS.c, PERIODS.c
        found: set[ReadingKey] = set()
        for chunk in chunked(meters):
            stmt = (
                select(r.meter_number, p.period_end, r.reading, r.read_date)
                .join(PERIODS, p.id == r.period_id)
                .where(p.community_id == self.scope.community_id, r.meter_number.in_(chunk))
            )
            found.update((m, end, value, day) for m, end, value, day in session.execute(stmt))
        return found

    def _insert(self, session: Session, rows: list[ReadingRow], outcome: Outcome) -> None:
        period_ids = self.periods.ids(session, {r.period_end for r in rows})
        stamp = now()
        params = [
            {
                "customer_id": r.customer_id,
                "meter_number": r.meter,
                "period_id": period_ids[r.period_end],
                "reading": r.reading,
                "read_date": r.read_date,
                "posted_by": self.scope.actor,
                "posted_at": stamp,
            }
            for r in rows
        ]
        stmt = insert(READINGS).returning(READINGS.c.id, READINGS.c.customer_id)
        added: list[tuple[int, int]] = [(i, c) for i, c in session.execute(stmt, params)]
        cid = self.scope.community_id
        outbox.record_many(session, [(cid, c, "reading", i, "add") for i, c in added])
        ids = [i for i, _c in added]
        batch_audit(
            session, self.scope, "readings", "reading", [r.line for r in rows], ids, outcome
        )


@dataclass(slots=True)
class OrderRow:
    line: int
    customer_id: int | None
    """None: no customer by account number; the screening finds (or creates) it."""
    order_number: str
    kind: str | None
    status: str | None
    start_date: date
    end_date: date | None
    description: str | None
    who: Incoming | None = None

    @property
    def owner(self) -> int:
        """The customer id, once known (every stored row has one)."""
        assert self.customer_id is not None
        return self.customer_id

    def values(self, stored: Mapping[str, Any] | None) -> dict[str, Any]:
        return {
            "kind": self.kind or (stored["kind"] if stored else "service"),
            "status": self.status or (stored["status"] if stored else "active"),
            "start_date": self.start_date,
            "end_date": self.end_date,
            "description": self.description,
        }


class OrderImporter:
    def __init__(
        self,
        session: Session,
        scope: Scope,
        parsers: Parsers,
        columns: Columns | None = None,
        screening: Screening | None = None,
    ) -> None:
        self.scope = scope
        self.parsers = parsers
        self.accounts = Accounts(session, scope, parsers)
        self.screening = screening
        present = columns.present if columns is not None else frozenset()
        self.identity = [f for f in IDENTITY_FIELDS if f in present]
        self.ref_types = sorted(f[4:] for f in present if f.startswith("ref:"))
        self._update = (
            update(ORDERS)
            .where(ORDERS.c.id == bindparam("b_id"))
            .values(updated_at=bindparam("b_updated_at"))
        )

    def check(self, values: Mapping[str, str], line: int) -> OrderRow:
        customer_id, who = self._customer(values, line)
        number = required(values, "order_number")
        if len(number) > 30:
            raise InvalidInput("order_number: 1 to 30 characters", field="order_number")
        kind = values.get("kind", "").strip().lower() or None
        if kind is not None and kind not in ORDER_KINDS:
            raise InvalidInput(f"kind: {kind!r} is not purchase or service", field="kind")
        status = values.get("status", "").strip().lower() or None
        if status is not None and status not in ORDER_STATUSES:
            raise InvalidInput(f"status: {status!r} is not active or closed", field="status")
        start = self.parsers.date(required(values, "start_date"), "start_date")
        end_text = values.get("end_date", "").strip()
        end = self.parsers.date(end_text, "end_date") if end_text else None
        if end is not None and end < start:
            raise InvalidInput("end_date: before start_date", field="end_date")
        description = text_field(values, "description", 200)
        return OrderRow(line, customer_id, number, kind, status, start, end, description, who)

    def _customer(self, values: Mapping[str, str], line: int) -> tuple[int | None, Incoming | None]:
        """The row's customer id by account number; or, when a screening runs and the row
        carries a reference or a name, None and what the screening matches."""
        text = values.get("account_number", "").strip()
        number = self.parsers.account(text) if text else None
        if number is not None:
            found = self.accounts.get(number)
            if found is not None:
                return found[0], None
        who = self._identity(values, line, number) if self.screening is not None else None
        if who is not None:
            return None, who
        if number is None:
            hint = " (or a ref:TYPE or name to match the customer by)" if self.screening else ""
            raise InvalidInput(f"account_number: required{hint}", field="account_number")
        self.accounts.find(values)  # raises: no such account
        raise AssertionError("unreachable")

    def _identity(
        self, values: Mapping[str, str], line: int, number: str | None
    ) -> Incoming | None:
        raw = {f: values[f] for f in self.identity if values.get(f, "").strip()}
        clean = clean_customer_values(raw) if raw else {}
        refs: dict[tuple[str, str], tuple[str, str, str]] = {}
        for ref_type in self.ref_types:
            text = values.get(f"ref:{ref_type}", "")
            if text.strip():
                ref = check_ref(ref_type, text)
                refs.setdefault((ref_type, ref[2]), ref)
        if not refs and not clean.get("last_name") and not clean.get("business_name"):
            return None
        return Incoming(line, number, clean, tuple(refs.values()), dict(values))

    def apply(self, session: Session, records: list[OrderRow], *, store: bool) -> Outcome:
        outcome = Outcome()
        if any(r.customer_id is None for r in records):
            records = self._screen(session, records, outcome, store)
        stored = self._stored(session, sorted({r.order_number for r in records}))
        new: list[OrderRow] = []
        changed: list[tuple[OrderRow, Mapping[str, Any], dict[str, list[Any]]]] = []
        for row in records:
            old = stored.get(row.order_number)
            if old is None:
                new.append(row)
            elif old["customer_id"] != row.customer_id:
                reason = f"order_number: order {row.order_number} belongs to another account"
                outcome.rejects.append((row.line, reason))
            else:
                diff = {f: [old[f], v] for f, v in row.values(old).items() if old[f] != v}
                if diff:
                    changed.append((row, old, diff))
                else:
                    outcome.unchanged += 1
        outcome.added, outcome.updated = len(new), len(changed)
        if store and (new or changed):
            ids = self._insert(session, new) + self._update_all(session, changed)
            lines = [r.line for r in new] + [r.line for r, _o, _d in changed]
            batch_audit(session, self.scope, "orders", "order", lines, ids, outcome)
        return outcome

    def _screen(
        self, session: Session, records: list[OrderRow], outcome: Outcome, store: bool
    ) -> list[OrderRow]:
        """Find the customer of each row not known by account number: attach it to an
        existing customer, hold it for review, or create the customer (only when the row has
        an account number and a name). A row that may be the same new customer as an earlier
        row of another account is screened again once that customer exists (up to
        ``PASSES``). Returns the rows whose order is stored now."""
        assert self.screening is not None
        pending = [r for r in records if r.customer_id is None and r.who is not None]
        keep: list[OrderRow] = [r for r in records if r.customer_id is not None]
        attached: list[Attachment] = []
        held: list[tuple[Incoming, Verdict]] = []
        against: list[int] | None = None
        for step in range(PASSES):
            final = step == PASSES - 1 or not store
            pending, against = self._pass(
                session, pending, outcome, store, not final, against, keep, attached, held
            )
            if not pending:
                break
        if store:
            attach(session, self.scope, "orders", attached)
            if held:
                self.screening.hold(session, self.scope, "orders", held)
        keep.sort(key=lambda r: r.line)
        return keep

    def _pass(
        self,
        session: Session,
        pending: list[OrderRow],
        outcome: Outcome,
        store: bool,
        defer_related: bool,
        against: list[int] | None,
        keep: list[OrderRow],
        attached: list[Attachment],
        held: list[tuple[Incoming, Verdict]],
    ) -> tuple[list[OrderRow], list[int]]:
        """One screening pass (see ``_screen``), scoring only ``against`` these customers when
        given: returns the rows deferred to the next pass and the customers created."""
        assert self.screening is not None
        whos = [r.who for r in pending if r.who]
        verdicts = self.screening.screen(session, self.scope, whos, against)
        later: set[str | None] = set()
        if defer_related:
            related = [
                {i for i in found if whos[i].account_number != who.account_number}
                for who, found in zip(whos, self.screening.related(whos), strict=True)
            ]
            # an account waits as a whole: its orders belong to one customer
            later = {whos[j].account_number for j in defer(verdicts, related)}
        deferred: list[OrderRow] = []
        create: dict[str, list[OrderRow]] = {}
        for row, verdict in zip(pending, verdicts, strict=True):
            who = row.who
            assert who is not None
            if verdict.path == "create" and who.account_number in later:
                deferred.append(row)
            elif verdict.path in ("reference", "score") and verdict.customer_id is not None:
                row.customer_id = verdict.customer_id
                attached.append(
                    Attachment(
                        row.line, verdict.customer_id, verdict.path, who.refs, who.account_number
                    )
                )
                if verdict.path == "reference":
                    outcome.attached_by_reference += 1
                else:
                    outcome.attached_by_score += 1
                keep.append(row)
            elif verdict.path == "hold":
                outcome.held += 1
                if not verdict.known:
                    held.append((who, verdict))
            elif who.account_number is None:
                outcome.rejects.append(
                    (
                        row.line,
                        "account_number: no customer matches this row's reference or name, and "
                        "without an account number no customer can be created for it",
                    )
                )
            elif not who.values.get("last_name") and not who.values.get("business_name"):
                outcome.rejects.append(
                    (
                        row.line,
                        f"account_number: no customer with account {who.account_number} and "
                        "none matches; last_name or business_name is required to create one",
                    )
                )
            else:
                create.setdefault(who.account_number, []).append(row)
        outcome.created += len(create)
        created: list[int] = []
        if store:
            created = self._create(session, create)  # now: deferred rows are scored against them
        for rows in create.values():
            keep.extend(rows)
        return deferred, created

    def _create(self, session: Session, create: dict[str, list[OrderRow]]) -> list[int]:
        """Create the customers of rows that matched no one (the first row of each account
        gives the customer's fields); returns their ids."""
        if not create:
            return []
        rows = []
        for number, orders in create.items():
            who = orders[0].who
            assert who is not None
            parsed = parse_account_number(number)
            rows.append(
                CustomerRow(
                    who.line,
                    number,
                    parsed.location,
                    parsed.occupant,
                    dict(who.values),
                    list(who.refs),
                )
            )
        maker = CustomerImporter(self.scope, Columns((), ()))
        ids = maker._insert(session, rows)
        for row, cid in zip(rows, ids, strict=True):
            self.accounts.add(row.account, cid)
            for order in create[row.account]:
                order.customer_id = cid
        return ids

    def _stored(self, session: Session, numbers: list[str]) -> dict[str, Mapping[str, Any]]:
        o = ORDERS.c
        found: dict[str, Mapping[str, Any]] = {}
        for chunk in chunked(numbers):
            stmt = select(o.id, o.order_number, o.customer_id, *[o[f] for f in _ORDER_FIELDS])
            stmt = stmt.where(o.community_id == self.scope.community_id, o.order_number.in_(chunk))
            for row in session.execute(stmt).mappings():
                found[str(row["order_number"])] = dict(row)
        return found

    def _insert(self, session: Session, rows: list[OrderRow]) -> list[int]:
        if not rows:
            return []
        stamp = now()
        params = [
            {
                **r.values(None),
                "community_id": self.scope.community_id,
                "customer_id": r.customer_id,
                "order_number": r.order_number,
                "created_at": stamp,
                "updated_at": stamp,
            }
            for r in rows
        ]
        stmt = insert(ORDERS).returning(ORDERS.c.id, ORDERS.c.order_number)
        by_number: dict[str, int] = {n: i for i, n in session.execute(stmt, params)}
        entries = [
            (
                "order.add",
                "order",
                by_number[r.order_number],
                r.customer_id,
                jsonable(
                    {f: [None, v] for f, v in p.items() if f in _ORDER_FIELDS and v is not None}
                    | {"order_number": [None, r.order_number]}
                ),
            )
            for r, p in zip(rows, params, strict=True)
        ]
        audit_rows(session, self.scope, entries)
        cid = self.scope.community_id
        changes = [(cid, r.owner, "order", by_number[r.order_number], "add") for r in rows]
        outbox.record_many(session, changes)
        return [by_number[r.order_number] for r in rows]

    def _update_all(
        self,
        session: Session,
        changed: list[tuple[OrderRow, Mapping[str, Any], dict[str, list[Any]]]],
    ) -> list[int]:
        if not changed:
            return []
        stamp = now()
        params = [
            {**row.values(old), "b_id": old["id"], "b_updated_at": stamp}
            for row, old, _diff in changed
        ]
        session.execute(self._update, params)
        ids: list[int] = [old["id"] for _row, old, _diff in changed]
        audit_rows(
            session,
            self.scope,
            [
                ("order.update", "order", old["id"], row.customer_id, jsonable(d))
                for row, old, d in changed
            ],
        )
        cid = self.scope.community_id
        outbox.record_many(
            session,
            [(cid, row.owner, "order", old["id"], "update") for row, old, _ in changed],
        )
        return ids
