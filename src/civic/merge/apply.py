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

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from civic.certification.tables import Certification, CertificationPosting
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
from civic.merge.plan import MERGE_FIELDS, MergePlan, make_plan
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
        if mv.entity == "dependent":
            _move(session, "dependent", mv.ids, survivor.id, column="master_customer_id")
        else:
            _move(session, mv.entity, mv.ids, survivor.id)
        details: dict[int, Any] = {}
        if mv.entity == "alert" and mv.ids:
            rows = session.scalars(select(AlertMessage).where(AlertMessage.id.in_(mv.ids)))
            details = {
                a.id: {"message": a.message, "created_by": a.created_by, "at": a.created_at}
                for a in rows
            }
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
                        "detail": {
                            "dropped": True,
                            "ref_type": ref.ref_type,
                            "value": ref.value,
                            "normalized": ref.normalized,
                        },
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
    _mark_pair(session, source.id, survivor.id, "merged", actor, stamp)
    _feed(session, plan.community_id, (source.id, survivor.id), "merge")
    return MergeResult(merge.id, plan)


def _mark_pair(session: Session, a: int, b: int, status: str, actor: str, stamp: datetime) -> None:
    """The review queue's pair of these two records follows the merge (merged) and its undo
    (pending again)."""
    lo, hi = min(a, b), max(a, b)
    session.execute(
        update(MatchPair)
        .where(MatchPair.customer_id_l == lo, MatchPair.customer_id_r == hi)
        .values(status=status, reviewer=actor, decided_at=stamp if status == "merged" else None),
        execution_options={"synchronize_session": False},
    )


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
    """Current owner (customer id) of each journalled record; missing records are absent."""
    model = _MODELS.get(entity, Customer)
    col = model.master_customer_id if entity == "dependent" else model.customer_id
    out: dict[int, int | None] = {}
    for chunk in _chunks(ids):
        for rid, owner in session.execute(select(model.id, col).where(model.id.in_(chunk))):
            out[int(rid)] = owner
    return out


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

    journal = _journal(session, merge_id)
    moved: dict[str, list[int]] = {
        entity: [m.entity_id for m in rows if not (m.detail or {}).get("dropped")]
        for entity, rows in journal.items()
    }
    back: dict[str, list[int]] = {}
    for entity, ids in moved.items():
        if entity == "alert":
            continue  # alerts are restored from the journal even if cleared since
        owners = _where_now(session, entity, ids)
        gone = [i for i in ids if i not in owners]
        elsewhere = [i for i in ids if i in owners and owners[i] != survivor.id]
        if entity == "ref":
            back[entity] = [i for i in ids if owners.get(i) == survivor.id]
            continue
        if gone:
            problems.append(f"{entity} {', '.join(map(str, gone[:10]))} no longer exist(s)")
        if elsewhere:
            problems.append(
                f"{entity} {', '.join(map(str, elsewhere[:10]))} moved away from {dst} after "
                "the merge"
            )
        back[entity] = [i for i in ids if owners.get(i) == survivor.id]
    txn_ids = moved.get("transaction", [])
    if txn_ids:
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
    cert_ids = moved.get("certification", [])
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
    if problems:
        raise MergeRefused(f"merge {merge_id} cannot be undone: " + "; ".join(problems), problems)

    restored: dict[str, int] = {}
    for entity, ids in back.items():
        column = "master_customer_id" if entity == "dependent" else ""
        _move(session, entity, ids, source.id, column=column)
        restored[entity] = len(ids)
    alerts = journal.get("alert", [])
    if alerts:
        owners = _where_now(session, "alert", [m.entity_id for m in alerts])
        present = [m.entity_id for m in alerts if owners.get(m.entity_id) == survivor.id]
        _move(session, "alert", present, source.id)
        for m in alerts:
            if m.entity_id not in owners and m.detail:
                session.add(
                    AlertMessage(
                        customer_id=source.id,
                        message=m.detail["message"],
                        created_by=m.detail.get("created_by") or actor,
                        created_at=datetime.fromisoformat(m.detail["at"]),
                    )
                )
        restored["alert"] = len(alerts)
    for m in journal.get("ref", []):
        detail = m.detail or {}
        if detail.get("dropped"):
            session.add(
                CustomerRef(
                    customer_id=source.id,
                    ref_type=detail["ref_type"],
                    value=detail["value"],
                    normalized=detail["normalized"],
                )
            )
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
    session.expire_all()
    source, survivor = locked[merge.source_id], locked[merge.survivor_id]
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
    _mark_pair(session, source.id, survivor.id, "pending", actor, stamp)
    _feed(session, merge.community_id, (source.id, survivor.id), "unmerge")
    return UndoResult(merge.id, src, dst, restored, kept)


def list_merges(session: Session, limit: int = 100) -> list[Merge]:
    return list(session.scalars(select(Merge).order_by(Merge.id.desc()).limit(limit)))
