"""The ledger's projection for the portal: the current state of many customers at once, read
straight from the ledger database (a few grouped queries per batch, not one per customer).

Balances age exactly as ``civic.ledger.balances.balance_report`` does (the same
``age_service``); the HTTP feed builds the same records from the ledger API's answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

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
from civic.portal.store.records import (
    CommunityInfo,
    CustomerRecord,
    PeriodRecord,
    ServiceRecord,
    TransactionRecord,
    months_back,
)


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


def project(session: Session, ids: Sequence[int], *, today: date) -> dict[int, CustomerRecord]:
    """Records of the customers ``ids`` (absent ids are left out)."""
    if not ids:
        return {}
    start = history_start(today)
    master = aliased(Customer)
    survivor = aliased(Customer)
    rows = session.execute(
        select(Customer, Community.code, master.account_number, survivor.account_number)
        .join(Community, Community.id == Customer.community_id)
        .outerjoin(master, master.id == Customer.master_customer_id)
        .outerjoin(survivor, survivor.id == Customer.merged_into_id)
        .where(Customer.id.in_(list(ids)))
    ).all()
    alerts: dict[int, list[str]] = defaultdict(list)
    for cid, message in session.execute(
        select(AlertMessage.customer_id, AlertMessage.message)
        .where(AlertMessage.customer_id.in_(list(ids)))
        .order_by(AlertMessage.id)
    ):
        alerts[cid].append(message)
    services = {
        sid: (code, name)
        for sid, code, name in session.execute(select(Service.id, Service.code, Service.name))
    }
    positive = case((Transaction.amount_cents > 0, Transaction.amount_cents), else_=0)
    negative = case((Transaction.amount_cents < 0, -Transaction.amount_cents), else_=0)
    sums: dict[int, dict[str, list[tuple[date, int, int]]]] = defaultdict(lambda: defaultdict(list))
    names: dict[int, dict[str, str]] = defaultdict(dict)
    for cid, sid, end, pos, neg in session.execute(
        select(
            Transaction.customer_id,
            Transaction.service_id,
            BillingPeriod.period_end,
            func.sum(positive),
            func.sum(negative),
        )
        .join(BillingPeriod, BillingPeriod.id == Transaction.period_id)
        .where(Transaction.customer_id.in_(list(ids)))
        .group_by(Transaction.customer_id, Transaction.service_id, BillingPeriod.period_end)
    ):
        code, name = services[sid]
        sums[cid][code].append((end, int(pos or 0), int(neg or 0)))
        names[cid][code] = name
    txns: dict[int, list[TransactionRecord]] = defaultdict(list)
    for t in session.execute(
        select(
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
        .join(BillingPeriod, BillingPeriod.id == Transaction.period_id)
        .where(Transaction.customer_id.in_(list(ids)), Transaction.txn_date >= start)
        .order_by(Transaction.customer_id, Transaction.txn_date.desc(), Transaction.id.desc())
    ):
        txns[t.customer_id].append(
            TransactionRecord(
                id=t.id,
                service=services[t.service_id][0],
                period_end=t.period_end,
                kind=t.kind,
                amount=t.amount_cents,
                txn_date=t.txn_date,
                description=t.description,
                reference=t.reference,
                voids_id=t.voids_id,
            )
        )
    records: dict[int, CustomerRecord] = {}
    for c, community, master_account, merged_into in rows:
        records[c.id] = CustomerRecord(
            id=c.id,
            community=community,
            account_number=c.account_number,
            first_name=c.first_name,
            middle_name=c.middle_name,
            last_name=c.last_name,
            suffix=c.suffix,
            business_name=c.business_name,
            service_address=c.service_address,
            mailing_address=c.mailing_address,
            city=c.city,
            state=c.state,
            zip=c.zip,
            phone=c.phone,
            email=c.email,
            status=c.status,
            online_access=c.online_access,
            master_account=master_account,
            merged_into_account=merged_into,
            alerts=tuple(alerts.get(c.id, ())),
            version=c.version,
            services=build_services(sums.get(c.id, {}), names.get(c.id, {}), start),
            transactions=tuple(txns.get(c.id, ())),
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
