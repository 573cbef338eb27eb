"""Apply a merge, and undo it.

Both run inside the caller's transaction (``db.transaction``): a crash leaves nothing half
merged or half restored. ``apply`` journals every record it moves (``merge_moves``) and both
customers' fields before and after; ``undo`` moves exactly those records back — records posted
to the survivor after the merge stay with the survivor — and refuses, naming each one, where
restoring would contradict a later change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from civic.certification.tables import (
    Certification,
    CertificationLine,
    CertificationPosting,
    CertificationRun,
)
from civic.errors import Conflict, InvalidInput, MergeRefused, NotFound
from civic.ledger import outbox
from civic.ledger.customers import audit, now
from civic.ledger.tables import (
    AlertMessage,
    Customer,
    CustomerRef,
    MeterReading,
    Order,
    Transaction,
)
from civic.matching.tables import MatchPair
from civic.merge.plan import ENTITY_LABELS, MERGE_FIELDS, MergePlan, make_plan
from civic.merge.tables import Merge, MergeMove

_MODELS: dict[str, Any] = {
    "transaction": Transaction,
    "reading": MeterReading,
    "order": Order,
    "certification": Certification,
    "alert": AlertMessage,
    "ref": CustomerRef,
}
_MOVES = cast(Table, MergeMove.__table__)
_CHUNK = 500


@dataclass(frozen=True)
class MergeResult:
    merge_id: int
    plan: MergePlan


@dataclass(frozen=True)
class UndoResult:
    merge_id: int
    source_account: str
    survivor_account: str
    restored: dict[str, int]
    """Records moved back to the source, by entity."""
    kept: dict[str, int]
    """Records that stay with the survivor because they were posted after the merge."""


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i : i + _CHUNK])


def _snapshot(customer: Customer) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in Customer.__table__.columns:
        value = getattr(customer, col.key)
        out[col.key] = value.isoformat() if isinstance(value, date | datetime) else value
    return out


def _field_for_db(name: str, value: Any) -> Any:
    if name == "created_date" and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def lock_customers(session: Session, ids: Iterable[int]) -> dict[int, Customer]:
    """Load and lock the customers (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already holds the database's write lock)."""
    stmt = select(Customer).where(Customer.id.in_(sorted(set(ids)))).order_by(Customer.id)
    found = {c.id: c for c in session.scalars(stmt.with_for_update())}
    for i in ids:
        if i not in found:
            raise NotFound(f"no customer with id {i}", customer_id=i)
    return found


def _move(
    session: Session, entity: str, ids: Sequence[int], to_customer: int, column: str = ""
) -> None:
    model = _MODELS.get(entity, Customer)
    col = getattr(model, column or "customer_id")
    for chunk in _chunks(ids):
        session.execute(
            update(model).where(model.id.in_(chunk)).values({col.key: to_customer}),
            execution_options={"synchronize_session": False},
        )


def apply_merge(
    session: Session,
    source: Customer,
    survivor: Customer,
    *,
    actor: str,
    take_from_source: tuple[str, ...] = (),
    set_values: Mapping[str, str] | None = None,
    orders_from: date | None = None,
    orders_to: date | None = None,
    force: bool = False,
    reason: str | None = None,
    pair_id: int | None = None,
) -> MergeResult:
    """Merge ``source`` into ``survivor`` in the caller's transaction."""
    locked = lock_customers(session, (source.id, survivor.id))
    source, survivor = locked[source.id], locked[survivor.id]
    session.refresh(source)
    session.refresh(survivor)
    plan = make_plan(
        session,
        source,
        survivor,
        take_from_source=take_from_source,
        set_values=set_values,
        orders_from=orders_from,
        orders_to=orders_to,
    )
    if plan.refusals:
        raise MergeRefused("merge refused: " + "; ".join(plan.refusals), plan.refusals)
    if plan.needs_force:
        if not force or not (reason or "").strip():
            raise MergeRefused(
                "merge refused: " + "; ".join(plan.needs_force) + " — or merge anyway with "
                "--force --reason TEXT",
                plan.needs_force,
            )
    elif force and not (reason or "").strip():
        raise InvalidInput("--force needs --reason TEXT", field="reason")

    merge = Merge(
        community_id=plan.community_id,
        source_id=source.id,
        survivor_id=survivor.id,
        source_before=_snapshot(source),
        survivor_before=_snapshot(survivor),
        survivor_after={},
        orders_from=orders_from,
        orders_to=orders_to,
        forced=bool(force and plan.needs_force),
        reason=(reason or "").strip() or None,
        pair_id=pair_id,
        created_at=now(),
        created_by=actor,
    )
    session.add(merge)
    session.flush()

    journal: list[dict[str, Any]] = []
    for mv in plan.moves:
        details: dict[int, Any] = {}
        if mv.entity == "alert" and mv.ids:
            rows = session.scalars(select(AlertMessage).where(AlertMessage.id.in_(mv.ids)))
            details = {a.id: _alert_detail(a) for a in rows}
        if mv.entity == "ref" and mv.ids:
            rows_r = session.scalars(select(CustomerRef).where(CustomerRef.id.in_(mv.ids)))
            details = {r.id: _ref_detail(r) for r in rows_r}
        if mv.entity in ("dependent", "merged"):
            column = "master_customer_id" if mv.entity == "dependent" else "merged_into_id"
            _repoint(session, mv.ids, column, survivor, actor, "merge")
        else:
            _move(session, mv.entity, mv.ids, survivor.id)
        journal += [
            {
                "merge_id": merge.id,
                "entity": mv.entity,
                "entity_id": i,
                "detail": _jsonable(details.get(i)),
            }
            for i in mv.ids
        ]
        if mv.entity == "ref" and mv.drop:
            refs = session.scalars(select(CustomerRef).where(CustomerRef.id.in_(mv.drop))).all()
            for ref in refs:
                journal.append(
                    {
                        "merge_id": merge.id,
                        "entity": "ref",
                        "entity_id": ref.id,
                        "detail": {"dropped": True, **_ref_detail(ref)},
                    }
                )
                session.delete(ref)
    if journal:
        session.execute(insert(_MOVES), journal)
    # The bulk UPDATEs bypassed the identity map: reload what the ORM holds.
    session.expire_all()
    source, survivor = locked[source.id], locked[survivor.id]

    for choice in plan.fields:
        if choice.result != choice.survivor:
            setattr(survivor, choice.field, _field_for_db(choice.field, choice.result))
    stamp = now()
    survivor.updated_at = stamp
    source.status = "inactive"
    source.merged_into_id = survivor.id
    source.updated_at = stamp
    session.flush()
    merge.survivor_after = _snapshot(survivor)
    counts = {mv.entity: len(mv.ids) for mv in plan.moves if mv.ids}
    audit(
        session,
        actor,
        "customer.merge",
        "merge",
        merge.id,
        survivor.id,
        {
            "source": plan.source_account,
            "survivor": plan.survivor_account,
            "fields": plan.changes,
            "moved": counts,
            "reason": merge.reason,
        },
    )
    audit(
        session,
        actor,
        "customer.merged_away",
        "customer",
        source.id,
        source.id,
        {
            "status": [merge.source_before.get("status"), "inactive"],
            "merged_into": [None, survivor.account_number],
        },
    )
    _mark_merged(session, merge, source.id, survivor.id, actor, stamp)
    _feed(session, plan.community_id, (source.id, survivor.id), "merge")
    return MergeResult(merge.id, plan)


def _alert_detail(alert: AlertMessage) -> dict[str, Any]:
    return {"message": alert.message, "created_by": alert.created_by, "at": alert.created_at}


def _ref_detail(ref: CustomerRef) -> dict[str, Any]:
    return {"ref_type": ref.ref_type, "value": ref.value, "normalized": ref.normalized}


def _repoint(
    session: Session, ids: Sequence[int], column: str, to: Customer, actor: str, why: str
) -> None:
    """Point customers' consolidated-billing master (``master_customer_id``) or merge pointer
    (``merged_into_id``) at ``to``, as ordinary audited changes: version, updated_at, the
    change feed."""
    if not ids:
        return
    field = "master_account" if column == "master_customer_id" else "merged_into"
    stamp = now()
    for customer in session.scalars(select(Customer).where(Customer.id.in_(list(ids)))):
        before = getattr(customer, column)
        old = session.get(Customer, before) if before is not None else None
        setattr(customer, column, to.id)
        customer.updated_at = stamp
        session.flush()
        audit(
            session,
            actor,
            f"customer.{why}",
            "customer",
            customer.id,
            customer.id,
            {field: [old.account_number if old else None, to.account_number]},
        )
        _feed(session, customer.community_id, (customer.id,), why)


def _pair_of(session: Session, a: int, b: int) -> MatchPair | None:
    lo, hi = min(a, b), max(a, b)
    return session.scalars(
        select(MatchPair).where(MatchPair.customer_id_l == lo, MatchPair.customer_id_r == hi)
    ).first()


def _mark_merged(
    session: Session, merge: Merge, a: int, b: int, actor: str, stamp: datetime
) -> None:
    """The review queue's pair of these two records (if any) becomes ``merged``; the merge
    remembers the decision it replaced, for an undo."""
    pair = _pair_of(session, a, b)
    if pair is None:
        return
    merge.pair_before = {
        "status": pair.status,
        "reviewer": pair.reviewer,
        "decided_at": pair.decided_at.isoformat() if pair.decided_at else None,
    }
    pair.status, pair.reviewer, pair.decided_at = "merged", actor, stamp


def _unmark_merged(session: Session, merge: Merge, a: int, b: int) -> None:
    """An undo puts the pair back as it was before the merge (``accepted`` by its reviewer,
    say); a pair the queue first showed after the merge, or a merge from before this was
    recorded, goes back to ``pending``."""
    pair = _pair_of(session, a, b)
    if pair is None or pair.status != "merged":
        return
    before = merge.pair_before or {"status": "pending", "reviewer": None, "decided_at": None}
    pair.status = str(before["status"])
    pair.reviewer = before["reviewer"]
    decided = before["decided_at"]
    pair.decided_at = datetime.fromisoformat(decided) if decided else None


def _feed(session: Session, community_id: int, ids: Iterable[int], op: str) -> None:
    outbox.record_many(session, [(community_id, i, "customer", i, op) for i in ids])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


# -- undo ---------------------------------------------------------------------------------------


def get_merge(session: Session, merge_id: int) -> Merge:
    merge = session.get(Merge, merge_id)
    if merge is None:
        raise NotFound(f"no merge with id {merge_id}", merge_id=merge_id)
    return merge


def _journal(session: Session, merge_id: int) -> dict[str, list[MergeMove]]:
    out: dict[str, list[MergeMove]] = {}
    rows = session.scalars(
        select(MergeMove).where(MergeMove.merge_id == merge_id).order_by(MergeMove.id)
    )
    for row in rows:
        out.setdefault(row.entity, []).append(row)
    return out


def _where_now(session: Session, entity: str, ids: list[int]) -> dict[int, int | None]:
    """Current owner of each journalled record (its customer; for a dependent its master, for
    a retired record its survivor); missing records are absent."""
    model = _MODELS.get(entity, Customer)
    if entity == "dependent":
        col = Customer.master_customer_id
    elif entity == "merged":
        col = Customer.merged_into_id
    else:
        col = model.customer_id
    out: dict[int, int | None] = {}
    for chunk in _chunks(ids):
        for rid, owner in session.execute(select(model.id, col).where(model.id.in_(chunk))):
            out[int(rid)] = owner
    return out


def _same_alert(row: AlertMessage | None, detail: dict[str, Any] | None, owner: int) -> bool:
    """The journalled alert is still this row (SQLite may reuse a deleted row's id)."""
    if row is None or detail is None or row.customer_id != owner:
        return False
    at = row.created_at.isoformat() if row.created_at else None
    return row.message == detail.get("message") and at == detail.get("at")


def _later_dropped_refs(session: Session, merge: Merge) -> set[tuple[str, str]]:
    """References that later merges into the same survivor, still applied, did not copy
    because the survivor held them: the survivor must keep its copy."""
    later = select(Merge.id).where(
        Merge.survivor_id == merge.survivor_id,
        Merge.id > merge.id,
        Merge.undone_at.is_(None),
    )
    out: set[tuple[str, str]] = set()
    for move in session.scalars(
        select(MergeMove).where(MergeMove.merge_id.in_(later), MergeMove.entity == "ref")
    ):
        detail = move.detail or {}
        if detail.get("dropped"):
            out.add((str(detail["ref_type"]), str(detail["normalized"])))
    return out


def _undo_problems(
    session: Session,
    merge: Merge,
    source: Customer,
    survivor: Customer,
    journal: dict[str, list[MergeMove]],
) -> list[str]:
    src, dst = source.account_number, survivor.account_number
    problems: list[str] = []
    if survivor.merged_into_id is not None:
        later = session.scalar(
            select(Merge.id).where(Merge.source_id == survivor.id, Merge.undone_at.is_(None))
        )
        problems.append(f"{dst} was itself merged away later (merge {later}): undo that first")
    if source.merged_into_id != survivor.id:
        problems.append(f"{src} no longer points at {dst}")
    before, after = merge.survivor_before, merge.survivor_after
    for name in MERGE_FIELDS:
        if before.get(name) == after.get(name):
            continue
        current = getattr(survivor, name)
        current = current.isoformat() if isinstance(current, date) else current
        if current != after.get(name):
            problems.append(
                f"{dst}.{name} was changed after the merge (merge set {after.get(name)!r}, it is "
                f"now {current!r}); set it back or restore {src}'s data by hand"
            )
    for entity, rows in journal.items():
        if entity in ("alert", "ref"):
            continue  # restored from the journal's own copy (below)
        ids = [m.entity_id for m in rows]
        owners = _where_now(session, entity, ids)
        gone = [i for i in ids if i not in owners]
        elsewhere = [i for i in ids if i in owners and owners[i] != survivor.id]
        label = ENTITY_LABELS.get(entity, entity)
        if gone:
            problems.append(f"{label} {', '.join(map(str, gone[:10]))} no longer exist")
        if elsewhere:
            problems.append(
                f"{label} {', '.join(map(str, elsewhere[:10]))} moved away from {dst} after "
                "the merge"
            )
    held = {
        (r.ref_type, r.normalized)
        for r in session.scalars(select(CustomerRef).where(CustomerRef.customer_id == survivor.id))
    }
    for m in journal.get("ref", []):
        detail = m.detail or {}
        key = (detail.get("ref_type"), detail.get("normalized"))
        if not detail.get("dropped") and key not in held:
            problems.append(
                f"reference {detail.get('ref_type')}:{detail.get('value')} is no longer on {dst}"
            )
    txn_ids = [m.entity_id for m in journal.get("transaction", [])]
    moved_set = set(txn_ids)
    for chunk in _chunks(txn_ids):
        for void_id, target in session.execute(
            select(Transaction.id, Transaction.voids_id).where(
                Transaction.voids_id.in_(chunk), Transaction.customer_id == survivor.id
            )
        ):
            if void_id not in moved_set:
                problems.append(
                    f"transaction {void_id} on {dst}, posted after the merge, voids moved "
                    f"transaction {target}: the void would be separated from its payment"
                )
    cert_ids = [m.entity_id for m in journal.get("certification", [])]
    if cert_ids:
        postings = session.execute(
            select(CertificationPosting.id, CertificationPosting.certification_id).where(
                CertificationPosting.certification_id.in_(cert_ids),
                CertificationPosting.posted_at > merge.created_at,
            )
        ).all()
        for posting_id, cert_id in postings:
            problems.append(
                f"certification {cert_id} was posted to {dst}'s balance after the merge "
                f"(posting {posting_id})"
            )
    if txn_ids:
        # A certification of the survivor made after the merge may cover moved charges: they
        # are on the tax roll as the survivor's, and cannot go back to the source.
        periods = select(Transaction.service_id, Transaction.period_id).where(
            Transaction.id.in_(txn_ids[:10_000])
        )
        covering = session.execute(
            select(Certification.id, CertificationRun.id)
            .join(CertificationRun, CertificationRun.id == Certification.run_id)
            .join(CertificationLine, CertificationLine.certification_id == Certification.id)
            .where(
                Certification.customer_id == survivor.id,
                CertificationRun.created_at > merge.created_at,
                tuple_(CertificationLine.service_id, CertificationLine.period_id).in_(periods),
            )
            .distinct()
        ).all()
        for cert_id, run_id in covering:
            problems.append(
                f"certification {cert_id} (run {run_id}) certified {dst}'s balance after the "
                "merge, including moved charges"
            )
    return problems


def undo_merge(session: Session, merge_id: int, *, actor: str) -> UndoResult:
    """Restore both records and every moved record; refuse, naming each, where restoring would
    contradict a later change."""
    merge = get_merge(session, merge_id)
    if merge.undone_at is not None:
        raise Conflict(
            f"merge {merge_id} was already undone on {merge.undone_at:%Y-%m-%d %H:%M} by "
            f"{merge.undone_by}",
            merge_id=merge_id,
        )
    locked = lock_customers(session, (merge.source_id, merge.survivor_id))
    source, survivor = locked[merge.source_id], locked[merge.survivor_id]
    session.refresh(source)
    session.refresh(survivor)
    src, dst = source.account_number, survivor.account_number
    journal = _journal(session, merge_id)
    problems = _undo_problems(session, merge, source, survivor, journal)
    if problems:
        raise MergeRefused(f"merge {merge_id} cannot be undone: " + "; ".join(problems), problems)

    restored: dict[str, int] = {}
    for entity in ("transaction", "reading", "order", "certification"):
        ids = [m.entity_id for m in journal.get(entity, [])]
        _move(session, entity, ids, source.id)
        if ids:
            restored[entity] = len(ids)
    for entity, column in (("dependent", "master_customer_id"), ("merged", "merged_into_id")):
        ids = [m.entity_id for m in journal.get(entity, [])]
        _repoint(session, ids, column, source, actor, "unmerge")
        if ids:
            restored[entity] = len(ids)
    # Alerts: the journal holds each one's text; the copies still on the survivor go, and all
    # come back to the source in their original order (a cleared one is recreated).
    alerts = journal.get("alert", [])
    for m in alerts:
        row = session.get(AlertMessage, m.entity_id)
        if row is not None and _same_alert(row, m.detail, survivor.id):
            session.delete(row)
    session.flush()
    for m in alerts:
        detail = m.detail or {}
        session.add(
            AlertMessage(
                customer_id=source.id,
                message=detail["message"],
                created_by=detail.get("created_by") or actor,
                created_at=datetime.fromisoformat(detail["at"]),
            )
        )
    if alerts:
        restored["alert"] = len(alerts)
    # References: moved ones go back (a copy stays where a later merge into the survivor relied
    # on it); dropped duplicates are recreated on the source.
    keep_copy = _later_dropped_refs(session, merge)
    on_survivor = {
        (r.ref_type, r.normalized): r
        for r in session.scalars(select(CustomerRef).where(CustomerRef.customer_id == survivor.id))
    }
    for m in journal.get("ref", []):
        detail = m.detail or {}
        key = (str(detail["ref_type"]), str(detail["normalized"]))
        ref = on_survivor.get(key)
        if detail.get("dropped") or key in keep_copy or ref is None:
            session.add(
                CustomerRef(
                    customer_id=source.id,
                    ref_type=detail["ref_type"],
                    value=detail["value"],
                    normalized=detail["normalized"],
                )
            )
        else:
            ref.customer_id = source.id
        restored["ref"] = restored.get("ref", 0) + 1
    kept = {
        "transaction": int(
            session.scalar(
                select(func.count()).where(
                    Transaction.customer_id == survivor.id, Transaction.posted_at > merge.created_at
                )
            )
            or 0
        )
    }
    session.flush()
    session.expire_all()
    source, survivor = locked[merge.source_id], locked[merge.survivor_id]
    before, after = merge.survivor_before, merge.survivor_after
    for name in MERGE_FIELDS:
        if before.get(name) != after.get(name):
            setattr(survivor, name, _field_for_db(name, before.get(name)))
    stamp = now()
    survivor.updated_at = stamp
    source.status = str(merge.source_before.get("status") or "active")
    source.merged_into_id = None
    source.updated_at = stamp
    merge.undone_at = stamp
    merge.undone_by = actor
    session.flush()
    audit(
        session,
        actor,
        "customer.unmerge",
        "merge",
        merge.id,
        survivor.id,
        {"source": src, "survivor": dst, "restored": restored},
    )
    _unmark_merged(session, merge, source.id, survivor.id)
    _feed(session, merge.community_id, (source.id, survivor.id), "unmerge")
    return UndoResult(merge.id, src, dst, restored, kept)


def list_merges(
    session: Session, limit: int = 100, community_ids: Sequence[int] | None = None
) -> list[Merge]:
    """The latest merges, newest first (of these communities only, if given)."""
    stmt = select(Merge).order_by(Merge.id.desc()).limit(limit)
    if community_ids is not None:
        stmt = stmt.where(Merge.community_id.in_(list(community_ids)))
    return list(session.scalars(stmt))


def account_numbers(session: Session, merges: Sequence[Merge]) -> dict[int, str]:
    """The account numbers of every source and survivor of these merges, in one query."""
    ids = sorted({m.source_id for m in merges} | {m.survivor_id for m in merges})
    if not ids:
        return {}
    rows = session.execute(select(Customer.id, Customer.account_number).where(Customer.id.in_(ids)))
    return {int(cid): str(number) for cid, number in rows}
