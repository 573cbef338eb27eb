"""Importing customers, keyed by account number: a new account is added, an identical one is
left alone ("unchanged"), a differing one is updated with an audited diff and its version
bumped. External references (``ref:TYPE`` columns) are added, never removed.

Values are validated by ``customers.clean_customer_values``, exactly as ``civic customers add``
does. A blank ``status`` or ``online_access`` leaves an existing customer's value alone (and
means active / yes for a new one); any other blank cell clears the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from civic.errors import StaleUpdate
from civic.ledger import customers, outbox
from civic.ledger.accounts import parse_account_number
from civic.ledger.customers import clean_customer_values, now
from civic.ledger.imports_base import (
    Outcome,
    Parsers,
    Scope,
    audit_rows,
    batch_audit,
    chunked,
    jsonable,
    required,
    table_of,
)
from civic.ledger.imports_csv import Columns
from civic.ledger.imports_screen import (
    PASSES,
    Attachment,
    Incoming,
    Screening,
    Verdict,
    attach,
    defer,
)
from civic.ledger.tables import Customer, CustomerRef
from civic.ledger.types import CUSTOMER_FIELDS

CUSTOMERS = table_of(Customer)
REFS = table_of(CustomerRef)

_KEEP_WHEN_BLANK = ("status", "online_access")
_NEW_DEFAULTS: dict[str, Any] = {
    **{f: None for f in CUSTOMER_FIELDS if f != "account_number"},
    "status": "active",
    "online_access": True,
    "collection_code": None,
    "master_customer_id": None,
}
Ref = tuple[str, str, str]
"""(ref type, value as given, normalised value)."""


@dataclass(slots=True)
class CustomerRow:
    line: int
    account: str
    location: str
    occupant: str
    values: dict[str, Any]
    refs: list[Ref]
    raw: dict[str, str] | None = None
    """The row as read (kept only when a screening runs: a hold stores it)."""

    def incoming(self) -> Incoming:
        return Incoming(self.line, self.account, self.values, tuple(self.refs), self.raw or {})


@dataclass(slots=True)
class _Change:
    row: CustomerRow
    stored: Mapping[str, Any]
    diff: dict[str, list[Any]]
    new_refs: list[Ref]


def check_ref(ref_type: str, value: str) -> Ref:
    """The same rules as ``civic customers add --ref`` (one function for both)."""
    return customers.check_ref(ref_type, value)


class CustomerImporter:
    def __init__(self, scope: Scope, columns: Columns, screening: Screening | None = None) -> None:
        self.scope = scope
        self.screening = screening
        present = columns.present
        self.fields = [f for f in CUSTOMER_FIELDS[1:] if f in present]
        self.ref_types = sorted(f[4:] for f in present if f.startswith("ref:"))
        self.parsers = Parsers()
        self._update = (
            update(CUSTOMERS)
            .where(CUSTOMERS.c.id == bindparam("b_id"))
            .where(CUSTOMERS.c.version == bindparam("b_version"))
            .values(version=CUSTOMERS.c.version + 1)
        )

    def check(self, values: Mapping[str, str], line: int) -> CustomerRow:
        number = parse_account_number(required(values, "account_number"))
        raw: dict[str, Any] = {
            f: values[f] for f in self.fields if f not in _KEEP_WHEN_BLANK or values[f].strip()
        }
        created = raw.get("created_date", "").strip()
        if created:  # parsed once per distinct date, with the same parser and message
            raw["created_date"] = self.parsers.date(created, "created_date")
        clean = clean_customer_values(raw)
        refs: dict[tuple[str, str], Ref] = {}
        for ref_type in self.ref_types:
            text = values[f"ref:{ref_type}"]
            if text.strip():
                ref = check_ref(ref_type, text)
                refs.setdefault((ref_type, ref[2]), ref)
        raw_row = dict(values) if self.screening is not None else None
        return CustomerRow(
            line,
            str(number),
            number.location,
            number.occupant,
            clean,
            list(refs.values()),
            raw_row,
        )

    # -- one batch ------------------------------------------------------------------------

    def apply(self, session: Session, records: list[CustomerRow], *, store: bool) -> Outcome:
        stored = self._stored(session, [r.account for r in records])
        outcome = Outcome()
        new: list[CustomerRow] = []
        changes: list[_Change] = []
        for row in records:
            old = stored.get(row.account)
            reason = _name_missing(row.values, old)
            if reason:
                outcome.rejects.append((row.line, reason))
            elif old is None:
                new.append(row)
            else:
                change = _diff(row, old)
                if change.diff and old.get("merged_into_id"):
                    outcome.rejects.append(
                        (
                            row.line,
                            f"account_number: account {row.account} was merged into another "
                            f"record (`civic customers show {row.account}` names it): change "
                            "the survivor instead",
                        )
                    )
                elif change.diff:
                    changes.append(change)
                else:
                    outcome.unchanged += 1
        attached: list[Attachment] = []
        held: list[tuple[Incoming, Verdict]] = []
        early: list[CustomerRow] = []  # created in an earlier screening pass of this batch
        early_ids: list[int] = []
        if self.screening is not None and new:
            pending, new = new, []
            against: list[int] | None = None
            for step in range(PASSES):
                final = step == PASSES - 1 or not store
                create, more, hold, pending = screen_rows(
                    session,
                    self.scope,
                    self.screening,
                    pending,
                    outcome,
                    defer_related=not final,
                    against=against,
                )
                attached += more
                held += hold
                if not pending:
                    new = create
                    break
                # the deferred rows are screened again against these customers
                against = self._insert(session, create)
                early_ids += against
                early += create
        outcome.added, outcome.updated = len(early) + len(new), len(changes)
        if store and (early or new or changes):
            ids = early_ids + self._insert(session, new) + self._update_all(session, changes)
            lines = [r.line for r in early + new] + [c.row.line for c in changes]
            batch_audit(session, self.scope, "customers", "customer", lines, ids, outcome)
        if store and attached:
            attach(session, self.scope, "customers", attached)
        if store and held and self.screening is not None:
            self.screening.hold(session, self.scope, "customers", held)
        return outcome

    def _stored(self, session: Session, accounts: list[str]) -> dict[str, dict[str, Any]]:
        """The stored customers among ``accounts``: their fields, version and refs."""
        names = ["id", "version", "account_number", "last_name", "business_name", "merged_into_id"]
        names += [f for f in self.fields if f not in names]
        cols = [CUSTOMERS.c[name] for name in names]
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunked(sorted(set(accounts))):
            stmt = select(*cols).where(
                CUSTOMERS.c.community_id == self.scope.community_id,
                CUSTOMERS.c.account_number.in_(chunk),
            )
            for row in session.execute(stmt).mappings():
                found[row["account_number"]] = {**row, "refs": set()}
        by_id = {c["id"]: c for c in found.values()}
        for chunk in chunked(sorted(by_id)):
            stmt = select(REFS.c.customer_id, REFS.c.ref_type, REFS.c.normalized).where(
                REFS.c.customer_id.in_(chunk)
            )
            for cid, ref_type, normalized in session.execute(stmt):
                by_id[cid]["refs"].add((ref_type, normalized))
        return found

    def _insert(self, session: Session, rows: list[CustomerRow]) -> list[int]:
        if not rows:
            return []
        stamp = now()
        params = [
            {
                **_NEW_DEFAULTS,
                **r.values,
                "community_id": self.scope.community_id,
                "account_number": r.account,
                "location": r.location,
                "occupant": r.occupant,
                "created_at": stamp,
                "updated_at": stamp,
                "version": 1,
            }
            for r in rows
        ]
        stmt = insert(CUSTOMERS).returning(CUSTOMERS.c.id, CUSTOMERS.c.account_number)
        ids = {number: cid for cid, number in session.execute(stmt, params)}
        self._insert_refs(session, [(ids[r.account], ref) for r in rows for ref in r.refs])
        audit_rows(
            session,
            self.scope,
            [
                (
                    "customer.add",
                    "customer",
                    ids[r.account],
                    ids[r.account],
                    {k: [None, _plain(v)] for k, v in r.values.items() if v is not None}
                    | {f"ref:{t}": [None, v] for t, v, _n in r.refs},
                )
                for r in rows
            ],
        )
        added = [ids[r.account] for r in rows]
        cid = self.scope.community_id
        outbox.record_many(session, [(cid, i, "customer", i, "add") for i in added])
        return added

    def _update_all(self, session: Session, changes: list[_Change]) -> list[int]:
        if not changes:
            return []
        stamp = now()
        params = [
            {
                **{f: c.stored[f] for f in self.fields},
                **c.row.values,
                "updated_at": stamp,
                "b_id": c.stored["id"],
                "b_version": c.stored["version"],
            }
            for c in changes
        ]
        result = session.execute(self._update, params)
        if (
            isinstance(result, CursorResult)
            and session.get_bind().dialect.supports_sane_multi_rowcount
        ):
            if result.rowcount != len(params):
                raise StaleUpdate(
                    "customers were changed by someone else during the import: import again",
                )
        ids = [c.stored["id"] for c in changes]
        self._insert_refs(session, [(c.stored["id"], ref) for c in changes for ref in c.new_refs])
        audit_rows(
            session,
            self.scope,
            [
                ("customer.update", "customer", i, i, jsonable(c.diff))
                for i, c in zip(ids, changes, strict=True)
            ],
        )
        cid = self.scope.community_id
        outbox.record_many(session, [(cid, i, "customer", i, "update") for i in ids])
        return ids

    def _insert_refs(self, session: Session, refs: list[tuple[int, Ref]]) -> None:
        if refs:
            session.execute(
                insert(REFS),
                [
                    {"customer_id": cid, "ref_type": t, "value": v, "normalized": n}
                    for cid, (t, v, n) in refs
                ],
            )


def screen_rows(
    session: Session,
    scope: Scope,
    screening: Screening,
    rows: list[CustomerRow],
    outcome: Outcome,
    *,
    defer_related: bool = False,
    against: Sequence[int] | None = None,
) -> tuple[list[CustomerRow], list[Attachment], list[tuple[Incoming, Verdict]], list[CustomerRow]]:
    """Split rows that would create customers by the screening's verdicts: (to create now, to
    attach, to hold, to screen again once this pass's customers exist); counts each path in
    ``outcome`` (a deferred row is counted when it is screened again). With
    ``defer_related``, a row that may be the same customer as an earlier row created in this
    pass is deferred (``imports_screen.defer``); ``against`` limits the scoring to the
    customers the previous pass created."""
    incoming = [r.incoming() for r in rows]
    verdicts = screening.screen(session, scope, incoming, against)
    deferred = defer(verdicts, screening.related(incoming)) if defer_related else set()
    create: list[CustomerRow] = []
    attached: list[Attachment] = []
    held: list[tuple[Incoming, Verdict]] = []
    later: list[CustomerRow] = []
    for i, (row, inc, verdict) in enumerate(zip(rows, incoming, verdicts, strict=True)):
        if i in deferred:
            later.append(row)
        elif verdict.path in ("reference", "score") and verdict.customer_id is not None:
            attached.append(
                Attachment(row.line, verdict.customer_id, verdict.path, inc.refs, row.account)
            )
            if verdict.path == "reference":
                outcome.attached_by_reference += 1
            else:
                outcome.attached_by_score += 1
        elif verdict.path == "hold":
            outcome.held += 1
            if not verdict.known:
                held.append((inc, verdict))
        else:
            create.append(row)
    outcome.created += len(create)
    return create, attached, held, later


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _name_missing(values: Mapping[str, Any], stored: Mapping[str, Any] | None) -> str | None:
    merged = {**(stored or {}), **values}
    if merged.get("last_name") or merged.get("business_name"):
        return None
    return "last_name or business_name is required"


def _diff(row: CustomerRow, stored: Mapping[str, Any]) -> _Change:
    diff = {f: [stored[f], v] for f, v in row.values.items() if stored[f] != v}
    new_refs = [ref for ref in row.refs if (ref[0], ref[2]) not in stored["refs"]]
    for ref_type, value, _normalized in new_refs:
        diff[f"ref:{ref_type}"] = [None, value]
    return _Change(row, stored, diff, new_refs)
