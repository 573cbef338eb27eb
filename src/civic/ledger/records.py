"""Records linked to a customer: meter readings and orders (purchase / service orders, seed
003), plus the customer's transaction history."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from civic.errors import Conflict, InvalidInput, NotFound
from civic.ledger import outbox
from civic.ledger.customers import audit, ensure_not_merged, now
from civic.ledger.periods import ensure_period
from civic.ledger.tables import (
    ORDER_STATUSES,
    BillingPeriod,
    Community,
    Customer,
    MeterReading,
    Order,
    Service,
    Transaction,
)
from civic.ledger.types import TransactionView
from civic.money import Cents


def add_reading(
    session: Session,
    customer: Customer,
    meter_number: str,
    reading: int,
    read_date: date,
    *,
    actor: str,
    period: date | None = None,
) -> MeterReading:
    """A meter reading for the billing period of ``period`` (default: of ``read_date``)."""
    ensure_not_merged(session, customer)
    meter_number = meter_number.strip()
    if not meter_number or len(meter_number) > 20:
        raise InvalidInput("meter: 1 to 20 characters", field="meter")
    if reading < 0:
        raise InvalidInput("reading: cannot be negative", field="reading")
    community = session.get(Community, customer.community_id)
    assert community is not None
    billing_period = ensure_period(session, community, period or read_date)
    row = MeterReading(
        customer_id=customer.id,
        meter_number=meter_number,
        period_id=billing_period.id,
        reading=reading,
        read_date=read_date,
        posted_by=actor,
        posted_at=now(),
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor,
        "reading.add",
        "reading",
        row.id,
        customer.id,
        {"meter": [None, meter_number], "reading": [None, reading]},
    )
    outbox.record(
        session,
        community_id=customer.community_id,
        customer_id=customer.id,
        entity="reading",
        entity_id=row.id,
        op="add",
    )
    return row


def add_order(
    session: Session,
    customer: Customer,
    order_number: str,
    start_date: date,
    *,
    actor: str,
    kind: str = "service",
    status: str = "active",
    end_date: date | None = None,
    description: str | None = None,
) -> Order:
    ensure_not_merged(session, customer)
    order_number = order_number.strip()
    if not order_number or len(order_number) > 30:
        raise InvalidInput("order_number: 1 to 30 characters", field="order_number")
    if kind not in ("purchase", "service"):
        raise InvalidInput(f"kind: {kind!r} is not purchase or service", field="kind")
    if status not in ORDER_STATUSES:
        raise InvalidInput(f"status: {status!r} is not active or closed", field="status")
    if end_date is not None and end_date < start_date:
        raise InvalidInput("end_date: before start_date", field="end_date")
    exists = session.scalar(
        select(Order.id).where(
            Order.community_id == customer.community_id, Order.order_number == order_number
        )
    )
    if exists is not None:
        raise Conflict(f"order {order_number} already exists", order_number=order_number)
    stamp = now()
    order = Order(
        community_id=customer.community_id,
        customer_id=customer.id,
        order_number=order_number,
        kind=kind,
        status=status,
        start_date=start_date,
        end_date=end_date,
        description=description,
        created_at=stamp,
        updated_at=stamp,
    )
    session.add(order)
    session.flush()
    audit(
        session,
        actor,
        "order.add",
        "order",
        order.id,
        customer.id,
        {"order_number": [None, order_number], "status": [None, status]},
    )
    outbox.record(
        session,
        community_id=customer.community_id,
        customer_id=customer.id,
        entity="order",
        entity_id=order.id,
        op="add",
    )
    return order


def close_order(
    session: Session, community: Community, order_number: str, end_date: date, *, actor: str
) -> Order:
    order = session.scalar(
        select(Order).where(
            Order.community_id == community.id, Order.order_number == order_number.strip()
        )
    )
    if order is None:
        raise NotFound(f"no order {order_number}", order_number=order_number)
    if order.status == "closed":
        raise Conflict(f"order {order_number} is already closed")
    if end_date < order.start_date:
        raise InvalidInput("end_date: before the order's start date", field="end_date")
    old_end = order.end_date
    order.status = "closed"
    order.end_date = end_date
    order.updated_at = now()
    session.flush()
    audit(
        session,
        actor,
        "order.close",
        "order",
        order.id,
        order.customer_id,
        {"status": ["active", "closed"], "end_date": [old_end, end_date]},
    )
    outbox.record(
        session,
        community_id=order.community_id,
        customer_id=order.customer_id,
        entity="order",
        entity_id=order.id,
        op="update",
    )
    return order


def history(
    session: Session,
    customer: Customer,
    *,
    since: date | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[TransactionView]:
    """The customer's transactions, newest first."""
    stmt = (
        select(Transaction, Service.code, BillingPeriod.period_end)
        .join(Service, Service.id == Transaction.service_id)
        .join(BillingPeriod, BillingPeriod.id == Transaction.period_id)
        .where(Transaction.customer_id == customer.id)
        .order_by(Transaction.txn_date.desc(), Transaction.id.desc())
        .offset(offset)
    )
    if since is not None:
        stmt = stmt.where(Transaction.txn_date >= since)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        TransactionView(
            id=t.id,
            account_number=customer.account_number,
            service=code,
            period_end=period_end,
            kind=t.kind,
            amount=Cents(t.amount_cents),
            txn_date=t.txn_date,
            description=t.description,
            reference=t.reference,
            voids_id=t.voids_id,
            posted_by=t.posted_by,
            posted_at=t.posted_at,
        )
        for t, code, period_end in session.execute(stmt)
    ]
