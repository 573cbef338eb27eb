"""The sync's delta path: apply a batch of ledger changes to customers already in the portal
without re-reading their whole history.

A customer whose changes in the batch are only new transactions (``transaction``/``post``),
meter readings or orders is brought up to date from what the portal already holds: its profile
is read again (one query for the batch), its new transactions are read by id, the services they
touch are re-aged from the stored periods plus the new debits and credits (credits apply oldest
first exactly as ``civic.ledger.balances.age_service``: the periods the portal dropped were
fully paid, so they are older than every period a credit can still reach), and transactions
that left the history window are deleted. A check keeps this exact: the set of the customer's
transactions in the window, as SQL aggregates (count, sum and sum of squares of the ids), must
equal the stored set plus the new rows. Anything else falls back to the full projection:
profile changes and merges (``customer`` changes), voids, back-dated rows (before the window
or in a period the portal no longer keeps), a new row the portal already holds, a last payment
that left the window, a search document that would change, and any check that does not add up.

The ledger session must be ONE consistent snapshot taken after the batch's changes were read
(``civic.sync.feeds.consistent_read``): the new rows, the profiles and the ledger's side of the
check must describe the same committed state, and so must a fallback's projection, which is
what the next delta builds on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from civic.ledger.balances import age_service
from civic.ledger.tables import BillingPeriod, Transaction
from civic.portal.store import bulk, index
from civic.portal.store.apply import (
    CUSTOMERS,
    PERIODS,
    SERVICES,
    TRANSACTIONS,
    ApplyResult,
    _communities,
    _update_customers,
    rules_of,
)
from civic.portal.store.bulk import among
from civic.portal.store.eligibility import CHARGE_KINDS, evaluate
from civic.portal.store.records import (
    CustomerRecord,
    PeriodRecord,
    ServiceRecord,
    content_hash,
    txn_fingerprint,
)
from civic.sync import project

DELTA_ENTITIES = frozenset({"transaction", "reading", "order"})
CHUNK = 500
PROFILE_FIELDS = (
    "community",
    "account_number",
    "first_name",
    "middle_name",
    "last_name",
    "suffix",
    "business_name",
    "service_address",
    "phone",
)
"""What the search index and typo dictionary hold: a change here takes the full path."""
UPDATED_FIELDS = (
    "mailing_address",
    "city",
    "state",
    "zip",
    "email",
    "status",
    "online_access",
    "master_account",
    "merged_into_account",
)
"""The profile fields a delta rewrites (besides alerts and the version)."""
HASHED_FIELDS = (
    "id", "community", "account_number", "first_name", "middle_name", "last_name", "suffix",
    "business_name", "service_address", "mailing_address", "city", "state", "zip", "phone",
    "email", "status", "online_access", "master_account", "merged_into_account",
)  # fmt: skip

Fingerprint = tuple[int, int, int]
Stored = dict[str, tuple[str, int, int, dict[date, tuple[int, int, int]]]]
"""service code -> (name, balance, unapplied credit, period end -> (age, charged, outstanding))"""


@dataclass
class DeltaResult:
    applied: ApplyResult = field(default_factory=ApplyResult)
    fallback: list[int] = field(default_factory=list)
    """Customers the delta path left to the full projection."""


def _chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _eligible_for_delta(changes: Sequence[Any]) -> bool:
    return all(
        c.entity in DELTA_ENTITIES
        and (c.entity != "transaction" or (c.op == "post" and c.entity_id is not None))
        for c in changes
    )


def _fingerprints(
    session: Session, table: Any, ids: Sequence[int], start: date
) -> dict[int, Fingerprint]:
    out: dict[int, Fingerprint] = {}
    for chunk in _chunks(ids):
        for cid, n, total, squares in session.execute(
            select(
                table.c.customer_id,
                func.count(table.c.id),
                func.sum(table.c.id),
                func.sum(table.c.id * table.c.id),
            )
            .where(among(session, table.c.customer_id, chunk), table.c.txn_date >= start)
            .group_by(table.c.customer_id)
        ).all():
            out[int(cid)] = (int(n), int(total or 0), int(squares or 0))
    return out


def _reage(
    code: str,
    old: tuple[str, int, int, dict[date, tuple[int, int, int]]] | None,
    name: str,
    debits: dict[date, int],
    credits: int,
    start: date,
) -> ServiceRecord | None:
    """One service re-aged with new debits per period and new credits; None when a debit lands
    in a period the portal no longer keeps (the full path knows its history)."""
    periods = old[3] if old else {}
    left_old = -old[2] if old else 0
    if any(end not in periods and end < start for end in debits):
        return None
    applied = sum(charged - outstanding for _age, charged, outstanding in periods.values())
    billed = {end: charged for end, (_age, charged, _out) in periods.items()}
    for end, amount in debits.items():
        billed[end] = billed.get(end, 0) + amount
    aged, left = age_service(billed.items(), applied + left_old + credits)
    fresh = sorted(end for end in billed if end not in periods)
    out: list[PeriodRecord] = []
    for i, (end, charged, outstanding) in enumerate(aged):
        if end in periods:
            age = periods[end][0] + sum(1 for f in fresh if f > end)
        else:
            age = i  # a new period is in the window: every newer period is kept
        if outstanding != 0 or end >= start:
            out.append(PeriodRecord(end, age, charged, outstanding))
    balance = sum(o for _e, _b, o in aged) - left
    return ServiceRecord(code, name, balance, -left, tuple(out))


def apply_deltas(
    portal: Session,
    ledger: Session,
    changes: Sequence[Any],
    *,
    today: date,
    seq: int,
    now: datetime | None = None,
) -> DeltaResult:
    """Apply ``changes`` (``FeedChange`` with entity, id and op) for the customers the delta
    path can take, in the caller's portal transaction; returns the others in ``fallback``."""
    now = now or datetime.now(UTC)
    start = project.history_start(today)
    result = DeltaResult()
    by_cid: dict[int, list[Any]] = defaultdict(list)
    for c in changes:
        by_cid[c.customer_id].append(c)
    fallback: set[int] = set()
    wanted = sorted(cid for cid, cs in by_cid.items() if _eligible_for_delta(cs))
    chosen = set(wanted)
    fallback.update(cid for cid in by_cid if cid not in chosen)
    stored: dict[int, Any] = {}
    for chunk in _chunks(wanted):
        for found_row in portal.execute(
            select(CUSTOMERS).where(among(portal, CUSTOMERS.c.id, chunk))
        ).mappings():
            stored[found_row["id"]] = found_row
    cands = [cid for cid in wanted if cid in stored]
    fallback.update(cid for cid in wanted if cid not in stored)
    base = project.profiles(ledger, cands)
    fallback.update(cid for cid in cands if cid not in base)
    cands = [cid for cid in cands if cid in base]
    owner = {c.entity_id: cid for cid in cands for c in by_cid[cid] if c.entity == "transaction"}
    services = project.service_names(ledger)
    new: dict[int, list[Any]] = defaultdict(list)
    found: set[int] = set()
    for chunk in _chunks(sorted(owner)):
        for t in ledger.execute(
            select(*project.TXN_COLUMNS)
            .join(BillingPeriod, BillingPeriod.id == Transaction.period_id)
            .where(among(ledger, Transaction.id, chunk))
        ):
            found.add(t.id)
            cid = owner[t.id]
            if t.customer_id != cid or t.kind == "VOID" or t.txn_date < start:
                fallback.add(cid)
            else:
                new[cid].append(t)
    fallback.update(cid for tid, cid in owner.items() if tid not in found)
    # A row the portal already holds was read by an earlier projection (a snapshot or a
    # fallback that ran ahead of the cursor). Re-ageing on top of the stored balances would
    # trust that they include it; the full projection trusts nothing stored.
    for chunk in _chunks(sorted(found)):
        fallback.update(
            owner[tid]
            for tid in portal.scalars(
                select(TRANSACTIONS.c.id).where(among(portal, TRANSACTIONS.c.id, chunk))
            )
        )
    cands = [cid for cid in cands if cid not in fallback]
    if not cands:
        result.fallback = sorted(fallback)
        return result
    in_ledger = _fingerprints(ledger, Transaction.__table__, cands, start)
    kept: dict[int, Stored] = defaultdict(dict)
    for chunk in _chunks(cands):
        for cid, code, name, balance, unapplied in portal.execute(
            select(
                SERVICES.c.customer_id,
                SERVICES.c.service,
                SERVICES.c.name,
                SERVICES.c.balance_cents,
                SERVICES.c.unapplied_credit_cents,
            ).where(among(portal, SERVICES.c.customer_id, chunk))
        ).all():
            kept[cid][code] = (name, balance, unapplied, {})
    # The check: the ledger's window = the stored set + the new rows. The stored set's
    # fingerprint is in the stored content hash (the sync is the store's only writer, and
    # writes rows and hash together): when the stored profile and balances with the ledger's
    # fingerprint less the new rows hash to the stored digest, the stored set is that one.
    # Otherwise (a window that moved, a store hashed another way) the store is asked.
    expect: dict[int, Fingerprint] = {}
    unproven: list[int] = []
    for cid in cands:
        add = txn_fingerprint(t.id for t in new.get(cid, ()))
        total = in_ledger.get(cid, (0, 0, 0))
        expect[cid] = (total[0] - add[0], total[1] - add[1], total[2] - add[2])
        if _stored_hash(stored[cid], kept[cid], expect[cid]) != stored[cid]["content_hash"]:
            unproven.append(cid)
    in_portal = _fingerprints(portal, TRANSACTIONS, unproven, start)
    fallback.update(cid for cid in unproven if in_portal.get(cid, (0, 0, 0)) != expect[cid])
    cands = [cid for cid in cands if cid not in fallback]
    touched: dict[int, set[str]] = {
        cid: {services[t.service_id][0] for t in new.get(cid, ())} for cid in cands
    }
    past_due: set[tuple[int, str]] = set()
    since: dict[int, date | None] = {}
    """Per customer, the threshold its touched periods were read from (see below)."""
    for chunk in _chunks(cands):
        # Only the periods of the services a change touched are re-aged, and of those only
        # the periods that can change: credits pay the oldest period first, so a stored
        # period older than every new debit of the chunk with nothing outstanding stays
        # fully paid (the credits only grow, the debits before it are the same); only its
        # age moves, by the number of new periods, which one UPDATE does (``_write``). Of the
        # services not touched, only whether one is past due (for the payment status).
        codes = sorted(set().union(*(touched[cid] for cid in chunk)))
        ends = [t.period_end for cid in chunk for t in new.get(cid, ()) if t.amount_cents > 0]
        floor = min(ends) if ends else None
        since.update(dict.fromkeys(chunk, floor))
        if codes:
            changeable = PERIODS.c.outstanding_cents != 0
            if floor is not None:
                changeable = or_(PERIODS.c.period_end >= floor, changeable)
            for cid, code, end, age, charged_cents, outstanding in portal.execute(
                select(
                    PERIODS.c.customer_id,
                    PERIODS.c.service,
                    PERIODS.c.period_end,
                    PERIODS.c.age,
                    PERIODS.c.charged_cents,
                    PERIODS.c.outstanding_cents,
                ).where(
                    among(portal, PERIODS.c.customer_id, chunk),
                    PERIODS.c.service.in_(codes),
                    changeable,
                )
            ).all():
                if code in touched[cid]:
                    kept[cid][code][3][end] = (age, charged_cents, outstanding)
        past_due.update(
            (cid, code)
            for cid, code in portal.execute(
                select(PERIODS.c.customer_id, PERIODS.c.service)
                .where(
                    among(portal, PERIODS.c.customer_id, chunk),
                    PERIODS.c.age > 0,
                    PERIODS.c.outstanding_cents > 0,
                )
                .distinct()
            ).all()
        )
    communities = _communities(portal, {base[cid]["community"] for cid in cands})
    customer_rows: list[dict[str, Any]] = []
    service_updates: list[dict[str, Any]] = []
    service_inserts: list[dict[str, Any]] = []
    period_deletes: list[dict[str, Any]] = []
    period_updates: list[dict[str, Any]] = []
    period_inserts: list[dict[str, Any]] = []
    txn_inserts: list[dict[str, Any]] = []
    age_bumps: list[dict[str, Any]] = []
    visible: dict[int, bool] = {}
    written: list[int] = []
    for cid in cands:
        old_row = stored[cid]
        fields = base[cid]
        if any(fields[f] != old_row[f] for f in PROFILE_FIELDS):
            fallback.add(cid)
            continue
        debits: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
        credits: dict[str, int] = defaultdict(int)
        names: dict[str, str] = {}
        for t in new.get(cid, ()):
            code, name = services[t.service_id]
            names[code] = name
            debits[code][t.period_end] += max(t.amount_cents, 0)
            credits[code] += max(-t.amount_cents, 0)
        out: list[ServiceRecord] = []
        ok = True
        for code in sorted(set(kept[cid]) | set(debits)):
            old = kept[cid].get(code)
            if code in debits:
                name = old[0] if old else names[code]
                aged = _reage(code, old, name, debits[code], credits[code], start)
                if aged is None:
                    ok = False
                    break
                out.append(aged)
            else:
                assert old is not None
                # Untouched: its balance stands; periods that left the window are deleted
                # below with one statement (the content hash does not cover periods).
                out.append(ServiceRecord(code, old[0], old[1], old[2], ()))
        paid_on, paid = old_row["last_payment_date"], old_row["last_payment_cents"]
        if paid_on is not None and paid_on < start:
            ok = False
        pays = [t for t in new.get(cid, ()) if t.kind == "PAY"]
        if pays:
            newest = max(pays, key=lambda t: (t.txn_date, t.id))
            if paid_on is None or newest.txn_date >= paid_on:
                paid_on, paid = newest.txn_date, -newest.amount_cents
        if not ok:
            fallback.add(cid)
            continue
        record = CustomerRecord(**fields, services=tuple(out), transactions=())
        digest = content_hash(record, in_ledger.get(cid, (0, 0, 0)))
        if digest == old_row["content_hash"]:
            result.applied.unchanged += 1
            continue
        rules = rules_of(communities[fields["community"]])
        balances = {s.service: s.balance for s in out}
        charged = _charged(new.get(cid, ()), services)
        reason = evaluate(
            rules,
            status=record.status,
            online_access=record.online_access,
            balances=balances,
            charged_services=charged,
        )
        if reason == "no_eligible_charges":
            # Only then do the stored charges of the window matter.
            reason = evaluate(
                rules,
                status=record.status,
                online_access=record.online_access,
                balances=balances,
                charged_services=charged | _stored_charges(portal, cid, start),
            )
        # Only what a delta can change: the search fields were checked equal above, and with
        # them what derives from them (display name, account forms, phone digits).
        row = {
            "id": cid,
            **{f: fields[f] for f in UPDATED_FIELDS},
            "alerts": list(record.alerts),
            "eligible": reason is None,
            "ineligible_reason": reason,
            "visible": reason is None and record.merged_into_account is None,
            "balance_cents": record.balance,
            "payment_status": _status(cid, out, touched[cid], past_due),
            "last_payment_date": paid_on,
            "last_payment_cents": paid,
            "ledger_version": record.version,
            "content_hash": digest,
            "synced_seq": seq,
            "synced_at": now,
        }
        customer_rows.append(row)
        if row["visible"] != old_row["visible"]:
            visible[cid] = bool(row["visible"])
        for s in out:
            if s.service not in touched[cid]:
                continue
            old = kept[cid].get(s.service)
            srow = {
                "customer_id": cid,
                "service": s.service,
                "name": s.name,
                "balance_cents": s.balance,
                "unapplied_credit_cents": s.unapplied_credit,
            }
            if old is None:
                service_inserts.append(srow)
            elif (old[0], old[1], old[2]) != (s.name, s.balance, s.unapplied_credit):
                service_updates.append(srow)
            before = old[3] if old else {}
            after = {p.period_end: (p.age, p.charged, p.outstanding) for p in s.periods}
            for end in before:
                if end not in after:
                    period_deletes.append({"c": cid, "s": s.service, "e": end})
            fresh = sum(1 for end in after if end not in before)
            if fresh and old is not None:
                # the stored periods not read (older, fully paid) are older than every new one
                age_bumps.append({"c": cid, "s": s.service, "t": since[cid], "k": fresh})
            for end, (age, ch, outstanding) in after.items():
                prow = {
                    "customer_id": cid,
                    "service": s.service,
                    "period_end": end,
                    "age": age,
                    "charged_cents": ch,
                    "outstanding_cents": outstanding,
                }
                if end not in before:
                    period_inserts.append(prow)
                elif before[end] != (age, ch, outstanding):
                    period_updates.append(prow)
        txn_inserts.extend(
            {
                "id": t.id,
                "customer_id": cid,
                "service": services[t.service_id][0],
                "period_end": t.period_end,
                "kind": t.kind,
                "amount_cents": t.amount_cents,
                "txn_date": t.txn_date,
                "description": t.description,
                "reference": t.reference,
                "voids_id": t.voids_id,
            }
            for t in new.get(cid, ())
        )
        written.append(cid)
    _write(
        portal,
        written,
        start,
        customer_rows,
        age_bumps,
        service_updates,
        service_inserts,
        period_deletes,
        period_updates,
        period_inserts,
        txn_inserts,
    )
    if visible:
        index.set_visible(portal, visible)
    result.applied.updated += len(written)
    result.applied.ids.extend(written)
    result.fallback = sorted(fallback)
    return result


def _stored_hash(row: Any, services: Stored, fingerprint: Fingerprint) -> str:
    """The content hash of the stored customer (profile and balances) with ``fingerprint``."""
    record = CustomerRecord(
        **{f: row[f] for f in HASHED_FIELDS},
        alerts=tuple(row["alerts"] or ()),
        version=row["ledger_version"],
        services=tuple(
            ServiceRecord(code, name, balance, unapplied)
            for code, (name, balance, unapplied, _periods) in sorted(services.items())
        ),
        transactions=(),
    )
    return content_hash(record, fingerprint)


def _stored_charges(portal: Session, cid: int, start: date) -> set[str]:
    return set(
        portal.scalars(
            select(TRANSACTIONS.c.service)
            .where(
                TRANSACTIONS.c.customer_id == cid,
                TRANSACTIONS.c.kind.in_(CHARGE_KINDS),
                TRANSACTIONS.c.txn_date >= start,
            )
            .distinct()
        )
    )


def _status(
    cid: int, services: Sequence[ServiceRecord], touched: set[str], past_due: set[tuple[int, str]]
) -> str:
    """``eligibility.payment_status`` with the untouched services' periods left in the store."""
    total = sum(s.balance for s in services)
    if total < 0:
        return "credit"
    if total == 0:
        return "paid"
    for s in services:
        if s.service in touched:
            if any(p.age > 0 and p.outstanding > 0 for p in s.periods):
                return "past_due"
        elif (cid, s.service) in past_due:
            return "past_due"
    return "due"


def _charged(txns: Sequence[Any], services: dict[int, tuple[str, str]]) -> set[str]:
    return {services[t.service_id][0] for t in txns if t.kind in CHARGE_KINDS}


def _write(
    portal: Session,
    written: list[int],
    start: date,
    customer_rows: list[dict[str, Any]],
    age_bumps: list[dict[str, Any]],
    service_updates: list[dict[str, Any]],
    service_inserts: list[dict[str, Any]],
    period_deletes: list[dict[str, Any]],
    period_updates: list[dict[str, Any]],
    period_inserts: list[dict[str, Any]],
    txn_inserts: list[dict[str, Any]],
) -> None:
    """The batch's writes. On PostgreSQL each kind is ONE statement (``UPDATE``/``DELETE``
    over ``unnest`` of arrays, ``COPY`` for the inserts): a statement per row, even
    pipelined, was most of a batch's time."""
    pg = portal.get_bind().dialect.name == "postgresql"
    opts = {"synchronize_session": False}
    _update_customers(portal, customer_rows)
    if age_bumps:
        # Before the periods read are rewritten: after it, one of them may match too. One
        # bump per (customer, service).
        if pg:
            values, params = bulk.unnest(
                portal,
                [
                    ("c", PERIODS.c.customer_id.type),
                    ("s", PERIODS.c.service.type),
                    ("t", PERIODS.c.period_end.type),
                    ("k", PERIODS.c.age.type),
                ],
                [(r["c"], r["s"], r["t"], r["k"]) for r in age_bumps],
            )
            portal.execute(
                text(
                    f"UPDATE portal_period_balances AS p SET age = p.age + v.k FROM {values} "
                    "WHERE p.customer_id = v.c AND p.service = v.s AND p.period_end < v.t "
                    "AND p.outstanding_cents = 0"
                ),
                params,
            )
        else:
            portal.execute(
                update(PERIODS)
                .where(
                    PERIODS.c.customer_id == bindparam("c"),
                    PERIODS.c.service == bindparam("s"),
                    PERIODS.c.period_end < bindparam("t"),
                    PERIODS.c.outstanding_cents == 0,
                )
                .values(age=PERIODS.c.age + bindparam("k")),
                age_bumps,
                execution_options=opts,
            )
    size = bulk.chunk_size(portal, CHUNK)
    for chunk in _chunks(written, size):
        portal.execute(
            delete(TRANSACTIONS).where(
                among(portal, TRANSACTIONS.c.customer_id, chunk),
                TRANSACTIONS.c.txn_date < start,
            )
        )
    bulk.update_rows(
        portal,
        SERVICES,
        ["customer_id", "service"],
        ["name", "balance_cents", "unapplied_credit_cents"],
        [
            (
                r["customer_id"],
                r["service"],
                r["name"],
                r["balance_cents"],
                r["unapplied_credit_cents"],
            )
            for r in service_updates
        ],
    )
    if period_deletes:
        if pg:
            values, params = bulk.unnest(
                portal,
                [
                    ("c", PERIODS.c.customer_id.type),
                    ("s", PERIODS.c.service.type),
                    ("e", PERIODS.c.period_end.type),
                ],
                [(r["c"], r["s"], r["e"]) for r in period_deletes],
            )
            portal.execute(
                text(
                    f"DELETE FROM portal_period_balances AS p USING {values} "
                    "WHERE p.customer_id = v.c AND p.service = v.s AND p.period_end = v.e"
                ),
                params,
            )
        else:
            portal.execute(
                delete(PERIODS).where(
                    PERIODS.c.customer_id == bindparam("c"),
                    PERIODS.c.service == bindparam("s"),
                    PERIODS.c.period_end == bindparam("e"),
                ),
                period_deletes,
                execution_options=opts,
            )
    bulk.update_rows(
        portal,
        PERIODS,
        ["customer_id", "service", "period_end"],
        ["age", "charged_cents", "outstanding_cents"],
        [
            (
                r["customer_id"],
                r["service"],
                r["period_end"],
                r["age"],
                r["charged_cents"],
                r["outstanding_cents"],
            )
            for r in period_updates
        ],
    )
    for chunk in _chunks(written, size):
        # Periods of untouched services that left the window with nothing outstanding.
        portal.execute(
            delete(PERIODS).where(
                among(portal, PERIODS.c.customer_id, chunk),
                PERIODS.c.period_end < start,
                PERIODS.c.outstanding_cents == 0,
            )
        )
    for table, rows in (
        (SERVICES, service_inserts),
        (PERIODS, period_inserts),
        (TRANSACTIONS, txn_inserts),
    ):
        if rows:
            columns = list(rows[0])
            bulk.insert_rows(portal, table, columns, [[r[c] for c in columns] for r in rows])
