"""The screening hook of an import: before an imported row creates a customer, something that
knows about duplicates (``civic.matching.prevent`` builds it; the ledger does not import it)
may say that the row is an existing customer.

``import_csv(..., screening=S)`` hands ``S.screen`` the batch's rows that would create a
customer (customers with a new account number; orders whose customer is not found by account
number) and gets back one ``Verdict`` each:

- ``reference``: an equal normalised external reference: attach the row to that customer;
- ``score``: a top-tier match: attach likewise;
- ``hold``: a middling match: ``S.hold`` keeps the row for review instead of creating anything;
- ``create``: a clear non-match: create the customer as before.

Rows of one batch may be the same new customer twice (one person on two lines of the file):
``S.related`` names, for each row, the earlier rows of the batch it may duplicate. The importer
creates the earlier row first and screens the later one again, against the customers now
including it, so it attaches or is held instead of creating a second record
(``screen_passes``).

Everything happens in the batch's transaction, so a crash leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from civic.ledger import outbox
from civic.ledger.imports_base import Scope, audit_rows, chunked, table_of
from civic.ledger.tables import CustomerRef

REFS = table_of(CustomerRef)

Ref = tuple[str, str, str]
"""(ref type, value as given, normalised value)."""

PATHS = ("reference", "score", "hold", "create")


@dataclass(frozen=True, slots=True)
class Incoming:
    """A row that would create a customer: its line, account number (None: the row has
    none), its customer fields as checked (``clean_customer_values``), its references, and the
    row as read (canonical field -> text; what a hold keeps)."""

    line: int
    account_number: str | None
    values: Mapping[str, Any]
    refs: tuple[Ref, ...]
    raw: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one incoming row (``PATHS``); ``customer_id`` is the existing customer
    to attach to (or, for a hold, the candidate). ``known`` marks a row already held by an
    earlier import of the same row (nothing new is stored)."""

    path: str
    customer_id: int | None = None
    match_weight: float | None = None
    match_probability: float | None = None
    evidence: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    reasons: Sequence[str] = field(default_factory=tuple)
    known: bool = False


class Screening(Protocol):
    """Matches incoming rows against existing customers (see the module's docstring)."""

    @property
    def mode(self) -> str:
        """How rows are matched, for the summary (``reference and score (model v2)``, or
        ``reference only: ...`` when there is no saved model)."""
        ...

    def screen(
        self,
        session: Session,
        scope: Scope,
        rows: Sequence[Incoming],
        against: Sequence[int] | None = None,
    ) -> list[Verdict]:
        """One verdict per row, in order. ``against``: score only against these customers
        (those an earlier pass of the batch created: the rows were already screened against
        everyone else)."""
        ...

    def hold(
        self, session: Session, scope: Scope, kind: str, held: Sequence[tuple[Incoming, Verdict]]
    ) -> None:
        """Keep these rows for review (in the caller's transaction; never commits)."""
        ...

    def related(self, rows: Sequence[Incoming]) -> list[set[int]]:
        """For each row, the indexes of earlier rows in ``rows`` that may be the same customer
        (an equal identity reference, or a shared candidate key)."""
        ...


PASSES = 2
"""Screening passes over one batch: rows that may duplicate a row created in the first pass
are scored against the customers it created in the second, which creates what is left (two
such rows that only match each other are both created; `civic match run` finds them)."""


def defer(verdicts: Sequence[Verdict], related: Sequence[set[int]]) -> set[int]:
    """The rows to screen again after this pass's customers are created: each row that would
    create a customer although an earlier row of the pass, which is created now, may be the
    same customer."""
    created: set[int] = set()
    deferred: set[int] = set()
    for j, verdict in enumerate(verdicts):
        if verdict.path != "create":
            continue
        if related[j] & created:
            deferred.add(j)
        else:
            created.add(j)
    return deferred


@dataclass(frozen=True, slots=True)
class Attachment:
    """An incoming row attached to an existing customer instead of creating one."""

    line: int
    customer_id: int
    path: str
    refs: tuple[Ref, ...]
    account_number: str | None


def attach(session: Session, scope: Scope, kind: str, rows: Sequence[Attachment]) -> None:
    """Add each row's references its customer lacks (audited, in the change feed) and audit
    each attachment: the file, line and account number the row came with, and why."""
    if not rows:
        return
    ids = sorted({r.customer_id for r in rows})
    held: set[tuple[int, str, str]] = set()
    for chunk in chunked(ids):
        stmt = select(REFS.c.customer_id, REFS.c.ref_type, REFS.c.normalized).where(
            REFS.c.customer_id.in_(chunk)
        )
        held.update((int(c), t, n) for c, t, n in session.execute(stmt))
    new: list[dict[str, Any]] = []
    entries: list[tuple[str, str, int | None, int | None, Mapping[str, Any]]] = []
    changed: set[int] = set()
    for row in rows:
        added = []
        for ref_type, value, normalized in row.refs:
            key = (row.customer_id, ref_type, normalized)
            if key in held:
                continue
            held.add(key)
            added.append((ref_type, value))
            new.append(
                {
                    "customer_id": row.customer_id,
                    "ref_type": ref_type,
                    "value": value,
                    "normalized": normalized,
                }
            )
        if added:
            changed.add(row.customer_id)
            entries.append(
                (
                    "customer.ref.add",
                    "customer",
                    row.customer_id,
                    row.customer_id,
                    {f"ref:{t}": [None, v] for t, v in added},
                )
            )
        entries.append(
            (
                f"import.{kind}.attach",
                "customer",
                row.customer_id,
                row.customer_id,
                {
                    "file": scope.source,
                    "line": row.line,
                    "by": row.path,
                    "account_number": row.account_number,
                },
            )
        )
    if new:
        session.execute(insert(REFS), new)
    audit_rows(session, scope, entries)
    if changed:
        cid = scope.community_id
        outbox.record_many(session, [(cid, i, "customer", i, "update") for i in sorted(changed)])
