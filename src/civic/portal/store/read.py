"""Reading the store back: a customer's record as the sync stored it, and its account view.

``stored_record`` rebuilds the ``CustomerRecord`` the sync applied, from the rows (tests compare
it with the ledger's projection; the account page shows it).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from civic.portal.store.records import (
    CustomerRecord,
    PeriodRecord,
    ServiceRecord,
    TransactionRecord,
)
from civic.portal.store.tables import (
    PortalCustomer,
    PortalPeriodBalance,
    PortalServiceBalance,
    PortalTransaction,
)


def stored_record(session: Session, customer_id: int) -> CustomerRecord | None:
    c = session.get(PortalCustomer, customer_id)
    if c is None:
        return None
    periods: dict[str, list[PeriodRecord]] = defaultdict(list)
    for p in session.scalars(
        select(PortalPeriodBalance)
        .where(PortalPeriodBalance.customer_id == customer_id)
        .order_by(PortalPeriodBalance.service, PortalPeriodBalance.period_end.desc())
    ):
        periods[p.service].append(
            PeriodRecord(p.period_end, p.age, p.charged_cents, p.outstanding_cents)
        )
    services = tuple(
        ServiceRecord(
            service=s.service,
            name=s.name,
            balance=s.balance_cents,
            unapplied_credit=s.unapplied_credit_cents,
            periods=tuple(periods.get(s.service, ())),
        )
        for s in session.scalars(
            select(PortalServiceBalance)
            .where(PortalServiceBalance.customer_id == customer_id)
            .order_by(PortalServiceBalance.service)
        )
    )
    txns = tuple(
        TransactionRecord(
            id=t.id,
            service=t.service,
            period_end=t.period_end,
            kind=t.kind,
            amount=t.amount_cents,
            txn_date=t.txn_date,
            description=t.description,
            reference=t.reference,
            voids_id=t.voids_id,
        )
        for t in session.scalars(
            select(PortalTransaction)
            .where(PortalTransaction.customer_id == customer_id)
            .order_by(PortalTransaction.txn_date.desc(), PortalTransaction.id.desc())
        )
    )
    return CustomerRecord(
        id=c.id,
        community=c.community,
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
        master_account=c.master_account,
        merged_into_account=c.merged_into_account,
        alerts=tuple(c.alerts or ()),
        version=c.ledger_version,
        services=services,
        transactions=txns,
    )


def customer_by_account(
    session: Session, account_number: str, community: str | None = None
) -> PortalCustomer | None:
    stmt = select(PortalCustomer).where(PortalCustomer.account_number == account_number)
    if community is not None:
        stmt = stmt.where(PortalCustomer.community == community)
    return session.scalars(stmt.limit(1)).first()
