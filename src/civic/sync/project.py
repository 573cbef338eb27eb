"""The ledger's projection for the portal: the current state of many customers at once, read
straight from the ledger database (a few grouped queries per batch, not one per customer).

Balances age exactly as ``civic.ledger.balances.balance_report`` does (the same
``age_service``); the HTTP feed builds the same records from the ledger API's answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from civic.ledger.balances import age_service
from civic.ledger.tables import (
    AlertMessage,
    BillingPeriod,
    Community,
    Customer,
    Service,
    Transaction,
)
from civic.portal.store.bulk import among
from civic.portal.store.records import (
    CommunityInfo,
    CustomerRecord,
    PeriodRecord,
    ServiceRecord,
    TransactionRecord,
    months_back,
)

TXN_COLUMNS = (
    Transaction.id,
    Transaction.customer_id,
    Transaction.service_id,
    Transaction.kind,
    Transaction.amount_cents,
    Transaction.txn_date,
    Transaction.description,
    Transaction.reference,
    Transaction.voids_id,
    BillingPeriod.period_end,
)
"""A transaction as the portal keeps it, with its period's end (join ``BillingPeriod``)."""


def history_start(today: date) -> date:
    """The first day of the history window ending ``today``."""
    return months_back(today)


def build_services(
    sums: dict[str, list[tuple[date, int, int]]], names: dict[str, str], start: date
) -> tuple[ServiceRecord, ...]:
    """Service balances from (period end, positive sum, negative sum) per service code, aged
    like the ledger; keeps the periods with something outstanding or inside the window."""
    out: list[ServiceRecord] = []
    for code in sorted(sums):
        rows = sums[code]
        debits: dict[date, int] = defaultdict(int)
        credits = 0
        for end, pos, neg in rows:
            debits[end] += pos
            credits += neg
        aged, left = age_service(debits.items(), credits)
        periods = tuple(
            PeriodRecord(period_end=end, age=i, charged=billed, outstanding=outstanding)
            for i, (end, billed, outstanding) in enumerate(aged)
            if outstanding != 0 or end >= start
        )
        balance = sum(o for _e, _b, o in aged) - left
        out.append(
            ServiceRecord(
                service=code,
                name=names.get(code, code),
                balance=balance,
                unapplied_credit=-left,
                periods=periods,
            )
        )
    return tuple(out)


def profiles(session: Session, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The profile fields of ``CustomerRecord`` (everything but services and transactions) of
    the customers ``ids``, read in two queries."""
    if not ids:
        return {}
    master = aliased(Customer)
    survivor = aliased(Customer)
    fields = (
        "id", "account_number", "first_name", "middle_name", "last_name", "suffix",
        "business_name", "service_address", "mailing_address", "city", "state", "zip", "phone",
        "email", "status", "online_access", "version",
    )  # fmt: skip
    conn = session.connection()  # Core rows: no ORM objects to build
    rows = conn.execute(
        select(
            *(getattr(Customer, f) for f in fields),
            Community.code,
            master.account_number,
            survivor.account_number,
        )
        .join(Community, Community.id == Customer.community_id)
        .outerjoin(master, master.id == Customer.master_customer_id)
        .outerjoin(survivor, survivor.id == Customer.merged_into_id)
        .where(among(conn, Customer.id, ids))
    ).all()
    alerts: dict[int, list[str]] = defaultdict(list)
    for cid, message in conn.execute(
        select(AlertMessage.customer_id, AlertMessage.message)
        .where(among(conn, AlertMessage.customer_id, ids))
        .order_by(AlertMessage.id)
    ).all():
        alerts[cid].append(message)
    out: dict[int, dict[str, Any]] = {}
    n = len(fields)
    for row in rows:
        values = dict(zip(fields, row[:n], strict=True))
        cid = values["id"]
        values["online_access"] = bool(values["online_access"])
        out[cid] = {
            **values,
            "community": row[n],
            "master_account": row[n + 1],
            "merged_into_account": row[n + 2],
            "alerts": tuple(alerts.get(cid, ())),
        }
    return out


def service_names(session: Session) -> dict[int, tuple[str, str]]:
    """Service id -> (code, name)."""
    return {
        sid: (code, name)
        for sid, code, name in session.execute(select(Service.id, Service.code, Service.name))
    }


def project(session: Session, ids: Sequence[int], *, today: date) -> dict[int, CustomerRecord]:
    """Records of the customers ``ids`` (absent ids are left out)."""
    if not ids:
        return {}
    start = history_start(today)
    base = profiles(session, ids)
    services = service_names(session)
    positive = case((Transaction.amount_cents > 0, Transaction.amount_cents), else_=0)
    negative = case((Transaction.amount_cents < 0, -Transaction.amount_cents), else_=0)
    sums: dict[int, dict[str, list[tuple[date, int, int]]]] = defaultdict(lambda: defaultdict(list))
    names: dict[int, dict[str, str]] = defaultdict(dict)
    # Core execution on the session's connection: these rows need no ORM loading.
    conn = session.connection()
    for cid, sid, end, pos, neg in conn.execute(
        select(
            Transaction.customer_id,
            Transaction.service_id,
            BillingPeriod.period_end,
            func.sum(positive),
            func.sum(negative),
        )
        .join(BillingPeriod, BillingPeriod.id == Transaction.period_id)
        .where(among(conn, Transaction.customer_id, ids))
        .group_by(Transaction.customer_id, Transaction.service_id, BillingPeriod.period_end)
    ).all():
        code, name = services[sid]
        sums[cid][code].append((end, int(pos or 0), int(neg or 0)))
        names[cid][code] = name
    txns: dict[int, list[TransactionRecord]] = defaultdict(list)
    for tid, cid, sid, kind, amount, day, description, reference, voids, end in conn.execute(
        select(*TXN_COLUMNS)
        .join(BillingPeriod, BillingPeriod.id == Transaction.period_id)
        .where(among(conn, Transaction.customer_id, ids), Transaction.txn_date >= start)
        .order_by(Transaction.customer_id, Transaction.txn_date.desc(), Transaction.id.desc())
    ).all():
        txns[cid].append(
            TransactionRecord(
                tid, services[sid][0], end, kind, amount, day, description, reference, voids
            )
        )
    records: dict[int, CustomerRecord] = {}
    for cid, fields in base.items():
        records[cid] = CustomerRecord(
            **fields,
            services=build_services(sums.get(cid, {}), names.get(cid, {}), start),
            transactions=tuple(txns.get(cid, ())),
        )
    return records


def customer_ids_after(session: Session, after: int, limit: int) -> list[int]:
    """Customer ids above ``after``, in order: how a snapshot walks the ledger."""
    return list(
        session.scalars(
            select(Customer.id).where(Customer.id > after).order_by(Customer.id).limit(limit)
        )
    )


def communities(session: Session) -> list[CommunityInfo]:
    """Every community with the services whose charges do not make a customer eligible."""
    hidden: dict[int, list[str]] = defaultdict(list)
    for community_id, code in session.execute(
        select(Service.community_id, Service.code).where(Service.portal_eligible.is_(False))
    ):
        hidden[community_id].append(code)
    return [
        CommunityInfo(code=c.code, name=c.name, ineligible_services=tuple(sorted(hidden[c.id])))
        for c in session.scalars(select(Community).order_by(Community.code))
    ]
