"""Rows an import held for review (``prevent``): list them, release one (create the customer
from it, as the import would have) or attach it to its candidate (the existing customer gets
the row's references; an order row's order goes to that customer). Take a Session; the caller
commits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civic.errors import Conflict, InvalidInput, NotFound
from civic.ledger import customers as ledger_customers
from civic.ledger import records as ledger_records
from civic.ledger.customers import audit, get_community, now
from civic.ledger.parsing import parse_date
from civic.ledger.tables import Community, Customer
from civic.matching.tables import ImportHold

_CUSTOMER_FIELDS = frozenset(
    {
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
    }
)
_CUSTOMER_ONLY = frozenset({"status", "online_access", "created_date", "collection_code"})


@dataclass(frozen=True)
class HoldView:
    id: int
    community: str
    kind: str
    file: str
    line: int
    account_number: str | None
    name: str
    values: dict[str, Any]
    candidate_id: int | None
    candidate_account: str | None
    candidate_name: str | None
    match_weight: float | None
    match_probability: float | None
    status: str
    customer_id: int | None
    held_at: datetime
    held_by: str
    decided_by: str | None
    decided_at: datetime | None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _name(values: Mapping[str, Any]) -> str:
    if values.get("business_name"):
        return str(values["business_name"]).strip()
    parts = [values.get(f) for f in ("first_name", "middle_name", "last_name", "suffix")]
    return " ".join(str(p).strip() for p in parts if p and str(p).strip())


def _view(session: Session, hold: ImportHold) -> HoldView:
    candidate = session.get(Customer, hold.candidate_id) if hold.candidate_id else None
    community = session.get(Community, hold.community_id)
    assert community is not None
    return HoldView(
        id=hold.id,
        community=community.code,
        kind=hold.kind,
        file=hold.file,
        line=hold.line,
        account_number=hold.account_number,
        name=_name(hold.values),
        values=dict(hold.values),
        candidate_id=hold.candidate_id,
        candidate_account=candidate.account_number if candidate else None,
        candidate_name=_name(
            {
                f: getattr(candidate, f)
                for f in ("first_name", "middle_name", "last_name", "suffix", "business_name")
            }
        )
        if candidate
        else None,
        match_weight=hold.match_weight,
        match_probability=hold.match_probability,
        status=hold.status,
        customer_id=hold.customer_id,
        held_at=hold.held_at,
        held_by=hold.held_by,
        decided_by=hold.decided_by,
        decided_at=hold.decided_at,
        evidence=list(hold.evidence),
        reasons=list(hold.reasons),
    )


def list_holds(
    session: Session, *, status: str | None = "held", community: str | None = None
) -> list[HoldView]:
    """Held rows (or all with ``status=None``), oldest first."""
    query = select(ImportHold).order_by(ImportHold.id)
    if status:
        query = query.where(ImportHold.status == status)
    if community:
        query = query.where(ImportHold.community_id == get_community(session, community).id)
    return [_view(session, h) for h in session.scalars(query)]


def get_hold(session: Session, hold_id: int) -> HoldView:
    return _view(session, _held(session, hold_id, any_status=True))


def _held(session: Session, hold_id: int, *, any_status: bool = False) -> ImportHold:
    hold = session.get(ImportHold, hold_id)
    if hold is None:
        raise NotFound(f"no held import row {hold_id}", hold=hold_id)
    if not any_status and hold.status != "held":
        raise Conflict(
            f"held row {hold_id} was already {hold.status} by {hold.decided_by}", hold=hold_id
        )
    return hold


def _refs(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(k[4:], str(v)) for k, v in values.items() if k.startswith("ref:") and str(v).strip()]


def _customer_values(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    allowed = _CUSTOMER_FIELDS | (_CUSTOMER_ONLY if kind == "customers" else frozenset())
    return {k: v for k, v in values.items() if k in allowed and str(v).strip()}


def _add_order(session: Session, customer: Customer, values: Mapping[str, Any], actor: str) -> None:
    end = str(values.get("end_date") or "").strip()
    ledger_records.add_order(
        session,
        customer,
        str(values.get("order_number", "")),
        parse_date(str(values.get("start_date", "")), "start_date"),
        actor=actor,
        kind=str(values.get("kind") or "").strip().lower() or "service",
        status=str(values.get("status") or "").strip().lower() or "active",
        end_date=parse_date(end, "end_date") if end else None,
        description=str(values.get("description") or "").strip() or None,
    )


def release(session: Session, hold_id: int, *, actor: str, account: str | None = None) -> HoldView:
    """Create the customer from the held row (a new person after all); an orders row's order
    goes to it. ``account`` gives (or replaces) the account number."""
    hold = _held(session, hold_id)
    number = (account or hold.account_number or "").strip()
    if not number:
        raise InvalidInput(
            f"held row {hold_id} has no account number: give one with --account", hold=hold_id
        )
    community = session.get(Community, hold.community_id)
    assert community is not None
    customer = ledger_customers.add_customer(
        session,
        community,
        number,
        _customer_values(hold.kind, hold.values),
        actor=actor,
        refs=_refs(hold.values),
    )
    if hold.kind == "orders":
        _add_order(session, customer, hold.values, actor)
    return _decide(session, hold, "released", customer, actor)


def attach(session: Session, hold_id: int, *, actor: str) -> HoldView:
    """Attach the held row to its candidate: the candidate gets the row's references; an
    orders row's order goes to the candidate."""
    hold = _held(session, hold_id)
    customer = session.get(Customer, hold.candidate_id) if hold.candidate_id else None
    if customer is None:
        raise Conflict(f"held row {hold_id} has no candidate to attach to", hold=hold_id)
    if customer.merged_into_id is not None:
        survivor = session.get(Customer, customer.merged_into_id)
        assert survivor is not None
        customer = survivor
    for ref_type, value in _refs(hold.values):
        ledger_customers.add_ref(session, customer, ref_type, value, actor=actor)
    if hold.kind == "orders":
        _add_order(session, customer, hold.values, actor)
    return _decide(session, hold, "attached", customer, actor)


def _decide(
    session: Session, hold: ImportHold, status: str, customer: Customer, actor: str
) -> HoldView:
    hold.status, hold.customer_id = status, customer.id
    hold.decided_by, hold.decided_at = actor, now()
    session.flush()
    audit(
        session,
        actor,
        "import.hold.release" if status == "released" else "import.hold.attach",
        "import_hold",
        hold.id,
        customer.id,
        {"status": ["held", status], "file": hold.file, "line": hold.line},
    )
    return _view(session, hold)
