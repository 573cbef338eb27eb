"""Write customer records into the store: rows, search index and typo dictionary together, in
the caller's transaction (the sync commits them with its cursor).

A record whose content hash equals the stored one is left alone: an idempotent re-apply writes
nothing. Communities carry the eligibility rules; when a rule changes, the community's
customers are re-evaluated from the stored rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from civic.portal.store import bulk, index
from civic.portal.store.eligibility import (
    CHARGE_KINDS,
    Rules,
    evaluate,
    evaluate_record,
    last_payment,
    payment_status,
)
from civic.portal.store.normalize import account_forms, account_text, digits, fold
from civic.portal.store.records import CommunityInfo, CustomerRecord, content_hash, period_rows
from civic.portal.store.tables import (
    PortalCommunity,
    PortalCustomer,
    PortalPeriodBalance,
    PortalServiceBalance,
    PortalTransaction,
    PortalWord,
)

CUSTOMERS = cast(Table, PortalCustomer.__table__)
SERVICES = cast(Table, PortalServiceBalance.__table__)
PERIODS = cast(Table, PortalPeriodBalance.__table__)
TRANSACTIONS = cast(Table, PortalTransaction.__table__)
WORDS = cast(Table, PortalWord.__table__)
CHUNK = 500
DEFAULT_INTERVAL_SECONDS = 1
"""A new community's sync schedule: a follower looks for changes every second."""


@dataclass
class ApplyResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    ids: list[int] = field(default_factory=list)
    """Ids of the customers whose rows were written."""

    def add(self, other: ApplyResult) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.ids.extend(other.ids)

    @property
    def written(self) -> int:
        return self.inserted + self.updated


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def rules_of(community: PortalCommunity) -> Rules:
    return Rules(
        hide_inactive=community.hide_inactive,
        require_online_access=community.require_online_access,
        require_charges=community.require_charges,
        ineligible_services=frozenset(community.ineligible_services or ()),
    )


def _communities(session: Session, codes: Iterable[str]) -> dict[str, PortalCommunity]:
    wanted = set(codes)
    found = {
        c.code: c
        for c in session.scalars(select(PortalCommunity).where(PortalCommunity.code.in_(wanted)))
    }
    for code in wanted - set(found):
        community = PortalCommunity(
            code=code,
            name=code.title(),
            hide_inactive=True,
            require_online_access=True,
            require_charges=True,
            ineligible_services=[],
            sync_interval_seconds=DEFAULT_INTERVAL_SECONDS,
        )
        session.add(community)
        found[code] = community
    session.flush()
    return found


def search_document(
    *,
    first_name: str | None,
    middle_name: str | None,
    last_name: str | None,
    suffix: str | None,
    business_name: str | None,
    service_address: str | None,
    account_number: str,
    phone: str | None,
) -> str:
    """The folded text the index holds for one customer."""
    parts = [
        fold(" ".join(p for p in (first_name, middle_name, last_name, suffix) if p)),
        fold(business_name),
        fold(service_address),
        account_text(account_number),
        digits(phone),
    ]
    return " ".join(p for p in parts if p)


def word_list(
    first_name: str | None,
    middle_name: str | None,
    last_name: str | None,
    business_name: str | None,
    service_address: str | None,
) -> set[str]:
    """The alphabetic words a customer adds to the typo dictionary."""
    text = " ".join(
        fold(p) for p in (first_name, middle_name, last_name, business_name, service_address) if p
    )
    return {w for w in text.split() if w.isalpha() and len(w) >= 3}


def _record_words(r: CustomerRecord) -> set[str]:
    return word_list(r.first_name, r.middle_name, r.last_name, r.business_name, r.service_address)


def _customer_row(
    record: CustomerRecord, rules: Rules, digest: str, seq: int, now: datetime
) -> dict[str, Any]:
    packed, location = account_forms(record.account_number)
    reason = evaluate_record(rules, record)
    paid_on, paid = last_payment(record)
    return {
        "id": record.id,
        "community": record.community,
        "account_number": record.account_number,
        "account_packed": packed,
        "account_location": location,
        "first_name": record.first_name,
        "middle_name": record.middle_name,
        "last_name": record.last_name,
        "suffix": record.suffix,
        "business_name": record.business_name,
        "display_name": record.display_name,
        "service_address": record.service_address,
        "mailing_address": record.mailing_address,
        "city": record.city,
        "state": record.state,
        "zip": record.zip,
        "phone": record.phone,
        "phone_digits": digits(record.phone) or None,
        "email": record.email,
        "status": record.status,
        "online_access": record.online_access,
        "master_account": record.master_account,
        "merged_into_account": record.merged_into_account,
        "alerts": list(record.alerts),
        "eligible": reason is None,
        "ineligible_reason": reason,
        "visible": reason is None and record.merged_into_account is None,
        "balance_cents": record.balance,
        "payment_status": payment_status(record),
        "last_payment_date": paid_on,
        "last_payment_cents": paid,
        "ledger_version": record.version,
        "content_hash": digest,
        "synced_seq": seq,
        "synced_at": now,
    }


def apply_records(
    session: Session, records: Sequence[CustomerRecord], *, seq: int, now: datetime | None = None
) -> ApplyResult:
    """Store the current state of these customers (the last record of an id wins)."""
    now = now or datetime.now(UTC)
    latest = {r.id: r for r in records}
    result = ApplyResult()
    if not latest:
        return result
    stored: dict[int, tuple[str, set[str]]] = {}
    for chunk in _chunks(sorted(latest)):
        rows = session.execute(
            select(
                PortalCustomer.id,
                PortalCustomer.content_hash,
                PortalCustomer.first_name,
                PortalCustomer.middle_name,
                PortalCustomer.last_name,
                PortalCustomer.business_name,
                PortalCustomer.service_address,
            ).where(bulk.among(session, PortalCustomer.id, chunk))
        )
        for cid, digest, *names in rows:
            stored[cid] = (digest, word_list(*names))
    digests = {cid: content_hash(record) for cid, record in latest.items()}
    equal = [r for cid, r in latest.items() if cid in stored and stored[cid][0] == digests[cid]]
    same = _same_periods(session, equal)
    changed: list[tuple[CustomerRecord, str]] = []
    for cid, record in latest.items():
        digest = digests[cid]
        if cid in same:
            result.unchanged += 1
            continue
        changed.append((record, digest))
        if cid in stored:
            result.updated += 1
        else:
            result.inserted += 1
        result.ids.append(cid)
    if not changed:
        return result
    communities = _communities(session, {r.community for r, _ in changed})
    ids = [r.id for r, _ in changed]
    old_ids = [i for i in ids if i in stored]
    for chunk in _chunks(old_ids):
        for table in (PERIODS, SERVICES):
            session.execute(delete(table).where(bulk.among(session, table.c.customer_id, chunk)))
    customer_rows: list[dict[str, Any]] = []
    # The other rows are tuples in their table's column order (a snapshot page holds tens of
    # thousands of them: dicts cost more to build and take apart than the COPY that sends them).
    service_rows: list[tuple[Any, ...]] = []
    period_rows: list[tuple[Any, ...]] = []
    txn_rows: list[tuple[Any, ...]] = []
    index_rows: list[index.IndexRow] = []
    words: Counter[str] = Counter()
    for record, digest in changed:
        rules = rules_of(communities[record.community])
        row = _customer_row(record, rules, digest, seq, now)
        customer_rows.append(row)
        cid = record.id
        for s in record.services:
            code = s.service
            service_rows.append((cid, code, s.name, s.balance, s.unapplied_credit))
            period_rows.extend(
                (cid, code, p.period_end, p.age, p.charged, p.outstanding) for p in s.periods
            )
        txn_rows.extend(
            (
                t.id, cid, t.service, t.period_end, t.kind, t.amount, t.txn_date, t.description,
                t.reference, t.voids_id,
            )
            for t in record.transactions
        )  # fmt: skip
        index_rows.append(
            index.IndexRow(
                customer_id=record.id,
                doc=search_document(
                    first_name=record.first_name,
                    middle_name=record.middle_name,
                    last_name=record.last_name,
                    suffix=record.suffix,
                    business_name=record.business_name,
                    service_address=record.service_address,
                    account_number=record.account_number,
                    phone=record.phone,
                ),
                community=record.community,
                visible=bool(row["visible"]),
                name=fold(record.display_name),
                address=fold(record.service_address),
            )
        )
        new_words = _record_words(record)
        old_words = stored[record.id][1] if record.id in stored else set()
        words.update(new_words - old_words)
        words.subtract(old_words - new_words)
    old = set(old_ids)
    _update_customers(session, [r for r in customer_rows if r["id"] in old])
    fresh, stored_ids = _new_transactions(session, old_ids, txn_rows)
    new_customers = [r for r in customer_rows if r["id"] not in old]
    if new_customers:
        columns = list(new_customers[0])
        bulk.insert_rows(
            session, CUSTOMERS, columns, [[r[c] for c in columns] for r in new_customers]
        )
    bulk.insert_rows(session, SERVICES, SERVICE_COLUMNS, service_rows)
    bulk.insert_rows(session, PERIODS, PERIOD_COLUMNS, period_rows)
    _insert_transactions(session, fresh, stored_ids)
    index.put(session, index_rows)
    _count_words(session, words)
    return result


def _same_periods(session: Session, records: Sequence[CustomerRecord]) -> set[int]:
    """Ids of the records whose stored aged periods are exactly theirs (the content hash
    leaves periods out)."""
    stored: dict[int, set[tuple[str, Any, int, int, int]]] = {r.id: set() for r in records}
    for chunk in _chunks(sorted(stored)):
        for cid, *row in session.execute(
            select(
                PERIODS.c.customer_id,
                PERIODS.c.service,
                PERIODS.c.period_end,
                PERIODS.c.age,
                PERIODS.c.charged_cents,
                PERIODS.c.outstanding_cents,
            ).where(bulk.among(session, PERIODS.c.customer_id, chunk))
        ):
            stored[cid].add((row[0], row[1], row[2], row[3], row[4]))
    return {r.id for r in records if stored[r.id] == period_rows(r)}


def _update_customers(session: Session, rows: list[dict[str, Any]]) -> None:
    """Rewrite changed customers in place (deleting them would cascade to their rows): one
    statement on PostgreSQL (``bulk.update_rows``)."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != "id"]
    bulk.update_rows(
        session, CUSTOMERS, ["id"], columns, [[r["id"], *(r[c] for c in columns)] for r in rows]
    )


TXN_COLUMNS = tuple(TRANSACTIONS.c.keys())
SERVICE_COLUMNS = tuple(SERVICES.c.keys())
PERIOD_COLUMNS = tuple(PERIODS.c.keys())


def _new_transactions(
    session: Session, old_ids: Sequence[int], rows: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], set[int]]:
    """Ledger rows are append-only: of a changed customer's transactions (``rows`` in
    ``TXN_COLUMNS`` order), delete the stored ones that left the window or differ, and return
    the rows still to insert with the ids stored under these customers before."""
    old = set(old_ids)
    stored: dict[int, tuple[Any, ...]] = {}
    for chunk in _chunks(list(old_ids)):
        for row in session.execute(
            select(*TRANSACTIONS.c).where(bulk.among(session, TRANSACTIONS.c.customer_id, chunk))
        ):
            stored[row[0]] = tuple(row)
    fresh: list[tuple[Any, ...]] = []
    kept: set[int] = set()
    for r in rows:
        if r[1] in old and stored.get(r[0]) == r:
            kept.add(r[0])
        else:
            fresh.append(r)
    gone = sorted(set(stored) - kept)
    for chunk in _chunks(gone, bulk.chunk_size(session, CHUNK)):
        session.execute(delete(TRANSACTIONS).where(bulk.among(session, TRANSACTIONS.c.id, chunk)))
    return fresh, set(stored)


def _insert_transactions(
    session: Session, rows: list[tuple[Any, ...]], stored_ids: set[int]
) -> None:
    """Insert new transaction rows. An id may still be stored under another customer (a merge
    moved it): that row is replaced. Ledger ids only grow, so only ids up to the largest
    stored one can be there; ids stored under the customers being written were deleted by
    ``_new_transactions``.

    On PostgreSQL the rows are first simply copied, under a savepoint: the primary key on the
    id is the check, and it costs nothing when no id is stored (every snapshot page, in
    practice). Only when it refuses are the stored ids looked up and deleted, then the rows
    copied again. SQLite looks them up first."""
    if not rows:
        return
    top = session.scalar(select(func.max(TRANSACTIONS.c.id))) or 0
    maybe = sorted(r[0] for r in rows if r[0] <= top and r[0] not in stored_ids)
    if maybe and session.get_bind().dialect.name == "postgresql":
        connection = session.connection()
        connection.exec_driver_sql("SAVEPOINT civic_copy_transactions")
        try:
            bulk.insert_rows(session, TRANSACTIONS, TXN_COLUMNS, rows)
        except (psycopg.IntegrityError, IntegrityError):
            connection.exec_driver_sql("ROLLBACK TO SAVEPOINT civic_copy_transactions")
        else:
            connection.exec_driver_sql("RELEASE SAVEPOINT civic_copy_transactions")
            return
    held: set[int] = set()
    for chunk in _chunks(maybe, bulk.chunk_size(session, CHUNK)):
        held.update(
            session.scalars(
                select(TRANSACTIONS.c.id).where(bulk.among(session, TRANSACTIONS.c.id, chunk))
            )
        )
    for chunk in _chunks(sorted(held), bulk.chunk_size(session, CHUNK)):
        session.execute(delete(TRANSACTIONS).where(bulk.among(session, TRANSACTIONS.c.id, chunk)))
    bulk.insert_rows(session, TRANSACTIONS, TXN_COLUMNS, rows)


def _count_words(session: Session, counts: Counter[str]) -> None:
    added = [{"word": w, "uses": n} for w, n in counts.items() if n > 0]
    removed = [{"w": w, "n": -n} for w, n in counts.items() if n < 0]
    if added:
        dialect = session.get_bind().dialect.name
        ins: Any = (postgresql if dialect == "postgresql" else sqlite).insert(WORDS)
        stmt = ins.on_conflict_do_update(
            index_elements=[WORDS.c.word], set_={"uses": WORDS.c.uses + ins.excluded.uses}
        )
        for chunk in _chunks(sorted(added, key=lambda r: str(r["word"])), 2000):
            session.execute(stmt, list(chunk))
    if removed:
        from sqlalchemy import bindparam

        session.execute(
            update(WORDS)
            .where(WORDS.c.word == bindparam("w"))
            .values(uses=WORDS.c.uses - bindparam("n")),
            removed,
            execution_options={"synchronize_session": False},
        )
        session.execute(delete(WORDS).where(WORDS.c.uses <= 0))


def refresh_community(session: Session, info: CommunityInfo) -> int:
    """Bring a community's name and (when the source knows them) its ineligible services up
    to date; re-evaluates its customers when the rules changed. Returns how many customers'
    eligibility changed."""
    community = _communities(session, [info.code])[info.code]
    if community.name != info.name:
        community.name = info.name
    if info.ineligible_services is None:
        return 0
    wanted = sorted(info.ineligible_services)
    if sorted(community.ineligible_services or []) == wanted:
        return 0
    community.ineligible_services = wanted
    session.flush()
    return reevaluate(session, info.code)


def reevaluate(session: Session, code: str) -> int:
    """Re-check every customer of a community against its rules, from the stored rows."""
    community = session.get(PortalCommunity, code)
    if community is None:
        return 0
    rules = rules_of(community)
    customers = session.execute(
        select(
            PortalCustomer.id,
            PortalCustomer.status,
            PortalCustomer.online_access,
            PortalCustomer.ineligible_reason,
            PortalCustomer.merged_into_account,
        ).where(PortalCustomer.community == code)
    ).all()
    balances: dict[int, dict[str, int]] = {}
    charged: dict[int, set[str]] = {}
    for chunk in _chunks([c[0] for c in customers]):
        for cid, svc, bal in session.execute(
            select(
                PortalServiceBalance.customer_id,
                PortalServiceBalance.service,
                PortalServiceBalance.balance_cents,
            ).where(bulk.among(session, PortalServiceBalance.customer_id, chunk))
        ):
            balances.setdefault(cid, {})[svc] = bal
        for cid, svc in session.execute(
            select(PortalTransaction.customer_id, PortalTransaction.service)
            .where(bulk.among(session, PortalTransaction.customer_id, chunk))
            .where(PortalTransaction.kind.in_(CHARGE_KINDS))
            .distinct()
        ):
            charged.setdefault(cid, set()).add(svc)
    changes: list[dict[str, Any]] = []
    visible: dict[int, bool] = {}
    for cid, status, online, old_reason, merged in customers:
        reason = evaluate(
            rules,
            status=status,
            online_access=online,
            balances=balances.get(cid, {}),
            charged_services=charged.get(cid, set()),
        )
        if reason == old_reason:
            continue
        shown = reason is None and merged is None
        changes.append({"cid": cid, "eligible": reason is None, "reason": reason, "shown": shown})
        visible[cid] = shown
    if changes:
        from sqlalchemy import bindparam

        session.execute(
            update(CUSTOMERS)
            .where(CUSTOMERS.c.id == bindparam("cid"))
            .values(
                eligible=bindparam("eligible"),
                ineligible_reason=bindparam("reason"),
                visible=bindparam("shown"),
            ),
            changes,
            execution_options={"synchronize_session": False},
        )
        index.set_visible(session, visible)
    return len(changes)
