"""What a merge would do, and whether it may: nothing here writes.

The survivor keeps its own values, with blanks filled from the source; any field can be taken
from the source instead, or set outright. Every record linked to the source moves to the
survivor: transactions, meter readings, orders (optionally only those overlapping a date range,
as in seed 003), certifications, alert messages, external references (a reference the survivor
already holds is not duplicated) and consolidated-billing dependents.

Guards (``MergePlan.refusals``): a record cannot merge into itself, across communities, from or
into a record that a merge already retired, or into a record whose consolidated-billing master
is the source; a group must keep an active master; two certifications of one run cannot
become one customer's. ``MergePlan.needs_force`` lists what ``--force --reason`` may override:
active orders on the record being made inactive (seed 003).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from civic.certification.tables import Certification
from civic.errors import InvalidInput
from civic.ledger import service
from civic.ledger.customers import clean_customer_values
from civic.ledger.tables import (
    AlertMessage,
    Customer,
    CustomerRef,
    MeterReading,
    Order,
    Transaction,
)

MERGE_FIELDS: tuple[str, ...] = (
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
    "collection_code",
    "created_date",
)
"""The survivor fields a merge may fill or override (never the account number or status)."""

ENTITY_LABELS = {
    "transaction": "transactions",
    "reading": "meter readings",
    "order": "orders",
    "certification": "certifications",
    "alert": "alert messages",
    "ref": "external references",
    "dependent": "consolidated-billing dependents",
    "merged": "records merged into it earlier (their pointer follows)",
}


@dataclass(frozen=True)
class FieldChoice:
    field: str
    survivor: Any
    source: Any
    result: Any
    origin: str
    """``survivor`` (kept), ``source`` (filled or taken from the source) or ``set``."""


@dataclass(frozen=True)
class Move:
    """Linked records of one kind that move from the source to the survivor."""

    entity: str
    ids: tuple[int, ...]
    amount_cents: int = 0
    stay: tuple[int, ...] = ()
    """Records of this kind that stay on the source (orders outside the date range)."""
    drop: tuple[int, ...] = ()
    """References the survivor already holds: removed from the source, not duplicated."""

    @property
    def label(self) -> str:
        return ENTITY_LABELS[self.entity]


@dataclass(frozen=True)
class MergePlan:
    source_id: int
    survivor_id: int
    community_id: int
    source_account: str
    survivor_account: str
    fields: tuple[FieldChoice, ...]
    moves: tuple[Move, ...]
    balance_before: dict[str, int]
    balance_after: dict[str, int]
    orders_from: date | None
    orders_to: date | None
    refusals: tuple[str, ...] = ()
    needs_force: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def changes(self) -> dict[str, list[Any]]:
        """Survivor fields the merge changes: ``{field: [before, after]}``."""
        return {f.field: [f.survivor, f.result] for f in self.fields if f.result != f.survivor}

    def move(self, entity: str) -> Move:
        return next(m for m in self.moves if m.entity == entity)


def _value(customer: Customer, name: str) -> Any:
    return getattr(customer, name)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``FIELD=VALUE`` options into a mapping; a bad one names itself."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"--set {pair!r}: expected FIELD=VALUE", field="set")
        out[name] = value
    return out


def _choose_fields(
    source: Customer,
    survivor: Customer,
    take_from_source: tuple[str, ...],
    set_values: Mapping[str, str],
) -> tuple[FieldChoice, ...]:
    for name in (*take_from_source, *set_values):
        if name not in MERGE_FIELDS:
            raise InvalidInput(
                f"{name}: not a field a merge can set (one of {', '.join(MERGE_FIELDS)})",
                field=name,
            )
    cleaned = clean_customer_values({k: v for k, v in set_values.items() if k != "collection_code"})
    if "collection_code" in set_values:
        code = set_values["collection_code"].strip().upper()
        if len(code) > 10:
            raise InvalidInput(
                "collection_code: 1 to 10 characters (blank for none)", field="collection_code"
            )
        cleaned["collection_code"] = code or None
    choices = []
    for name in MERGE_FIELDS:
        mine, theirs = _value(survivor, name), _value(source, name)
        if name in set_values:
            result = cleaned.get(name, set_values[name].strip() or None)
            choices.append(FieldChoice(name, mine, theirs, result, "set"))
        elif name in take_from_source or (mine in (None, "") and theirs not in (None, "")):
            choices.append(FieldChoice(name, mine, theirs, theirs, "source"))
        else:
            choices.append(FieldChoice(name, mine, theirs, mine, "survivor"))
    return tuple(choices)


def _ids(session: Session, stmt: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in session.scalars(stmt))


def _overlaps(orders_from: date | None, orders_to: date | None) -> Any:
    conds = []
    if orders_to is not None:
        conds.append(Order.start_date <= orders_to)
    if orders_from is not None:
        conds.append(or_(Order.end_date.is_(None), Order.end_date >= orders_from))
    return and_(*conds) if conds else None


def _master_chain(session: Session, customer: Customer, limit: int = 50) -> set[int]:
    """The ids of ``customer``'s consolidated-billing master, its master, and so on."""
    seen: set[int] = set()
    current = customer.master_customer_id
    while current is not None and current not in seen and len(seen) < limit:
        seen.add(current)
        current = session.scalar(select(Customer.master_customer_id).where(Customer.id == current))
    return seen


def make_plan(
    session: Session,
    source: Customer,
    survivor: Customer,
    *,
    take_from_source: tuple[str, ...] = (),
    set_values: Mapping[str, str] | None = None,
    orders_from: date | None = None,
    orders_to: date | None = None,
) -> MergePlan:
    """Work out the merge of ``source`` into ``survivor``; raises ``InvalidInput`` only for
    bad options. What the merge must not do is listed in ``refusals`` / ``needs_force``."""
    if orders_from and orders_to and orders_to < orders_from:
        raise InvalidInput("--orders-to is before --orders-from", field="orders_to")
    fields = _choose_fields(source, survivor, take_from_source, dict(set_values or {}))
    refusals: list[str] = []
    needs_force: list[str] = []
    warnings: list[str] = []
    src, dst = source.account_number, survivor.account_number
    if source.id == survivor.id:
        refusals.append(f"{src} cannot be merged into itself")
    if source.community_id != survivor.community_id:
        refusals.append(f"{src} and {dst} belong to different communities")
    for c in (source, survivor):
        if c.merged_into_id is not None:
            into = session.get(Customer, c.merged_into_id)
            refusals.append(
                f"{c.account_number} was already merged into "
                f"{into.account_number if into else c.merged_into_id}"
            )
    if survivor.master_customer_id == source.id:
        refusals.append(
            f"{dst}'s consolidated-billing master is {src}: the group would lose its active "
            "master; set another master first"
        )

    txn_ids = _ids(session, select(Transaction.id).where(Transaction.customer_id == source.id))
    txn_sum = int(
        session.scalar(
            select(func.coalesce(func.sum(Transaction.amount_cents), 0)).where(
                Transaction.customer_id == source.id
            )
        )
        or 0
    )
    reading_ids = _ids(
        session, select(MeterReading.id).where(MeterReading.customer_id == source.id)
    )
    order_q = select(Order.id).where(Order.customer_id == source.id).order_by(Order.id)
    in_range = _overlaps(orders_from, orders_to)
    all_orders = _ids(session, order_q)
    moving_orders = _ids(session, order_q.where(in_range)) if in_range is not None else all_orders
    staying_orders = tuple(i for i in all_orders if i not in set(moving_orders))
    active_orders = session.scalars(
        select(Order.order_number).where(Order.customer_id == source.id, Order.status == "active")
    ).all()
    if active_orders:
        needs_force.append(
            f"{src}, the record being made inactive, has active orders: "
            f"{', '.join(active_orders)} (seed 003: close them or keep {src} active)"
        )
    if staying_orders:
        warnings.append(
            f"{len(staying_orders)} order(s) outside the date range stay on the inactive {src}"
        )
    cert_ids = _ids(session, select(Certification.id).where(Certification.customer_id == source.id))
    if cert_ids:
        clash = session.scalars(
            select(Certification.run_id).where(
                Certification.customer_id == survivor.id,
                Certification.run_id.in_(
                    select(Certification.run_id).where(Certification.customer_id == source.id)
                ),
            )
        ).all()
        if clash:
            refusals.append(
                f"{src} and {dst} were both certified in run(s) "
                f"{', '.join(str(r) for r in clash)}: one customer holds one certification per "
                "run; reapply the certification after the merge instead"
            )
    alert_ids = _ids(
        session,
        select(AlertMessage.id)
        .where(AlertMessage.customer_id == source.id)
        .order_by(AlertMessage.id),
    )
    held = {
        (row[0], row[1])
        for row in session.execute(
            select(CustomerRef.ref_type, CustomerRef.normalized).where(
                CustomerRef.customer_id == survivor.id
            )
        )
    }
    ref_move: list[int] = []
    ref_drop: list[int] = []
    for ref in session.scalars(select(CustomerRef).where(CustomerRef.customer_id == source.id)):
        (ref_drop if (ref.ref_type, ref.normalized) in held else ref_move).append(ref.id)
    dependents = _ids(
        session,
        select(Customer.id).where(
            Customer.master_customer_id == source.id, Customer.id != survivor.id
        ),
    )
    if dependents and _master_chain(session, survivor) & set(dependents):
        refusals.append(
            f"{dst} is billed (directly or through another account) through one of {src}'s "
            "consolidated-billing dependents: moving them to it would make a cycle of masters"
        )
    retired = _ids(
        session,
        select(Customer.id).where(Customer.merged_into_id == source.id).order_by(Customer.id),
    )
    if dependents and survivor.status != "active":
        refusals.append(
            f"{src} is the consolidated-billing master of {len(dependents)} account(s) and "
            f"{dst} is {survivor.status}: the group would be left without an active master"
        )
    if survivor.status != "active":
        warnings.append(f"the survivor {dst} is {survivor.status}")

    before = {
        "source": int(service.total_balance(session, source.id)),
        "survivor": int(service.total_balance(session, survivor.id)),
    }
    after = {"source": before["source"] - txn_sum, "survivor": before["survivor"] + txn_sum}
    moves = (
        Move("transaction", txn_ids, amount_cents=txn_sum),
        Move("reading", reading_ids),
        Move("order", moving_orders, stay=staying_orders),
        Move("certification", cert_ids),
        Move("alert", alert_ids),
        Move("ref", tuple(ref_move), drop=tuple(ref_drop)),
        Move("dependent", dependents),
        Move("merged", retired),
    )
    return MergePlan(
        source_id=source.id,
        survivor_id=survivor.id,
        community_id=survivor.community_id,
        source_account=src,
        survivor_account=dst,
        fields=fields,
        moves=moves,
        balance_before=before,
        balance_after=after,
        orders_from=orders_from,
        orders_to=orders_to,
        refusals=tuple(refusals),
        needs_force=tuple(needs_force),
        warnings=tuple(warnings),
    )
