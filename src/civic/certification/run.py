"""Create Tax Certification Records and Update Customer Balances (seed 004).

``create_certifications`` records, for the selected customers, what is certifiable (see
``compute``) and updates their accounts: a collection code and an alert message, each with the
seed's assign/replace and skip/append/replace options. ``update_balances`` posts each
certification once: a payment adjustment (PADJ) per service and period and the certification
fee as a separate FEE transaction. ``reapply`` reverses the earlier posting with new rows and
posts the current one again; both stay in the history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from civic.certification.compute import Line, certifiable_lines
from civic.certification.tables import (
    Certification,
    CertificationLine,
    CertificationPosting,
    CertificationRun,
    CertificationTransaction,
)
from civic.errors import InvalidInput, NotFound
from civic.ledger import outbox
from civic.ledger.customers import (
    ALERT_MODES,
    add_alert_to_many,
    assign_collection_code,
    audit,
    now,
)
from civic.ledger.periods import ensure_period, period_end_for
from civic.ledger.select import parse_where
from civic.ledger.tables import Community, Customer, Service, Transaction
from civic.money import Cents

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CreateOptions:
    cert_date: date
    period: date
    description: str = "Tax Certification {year}"
    fee: Cents = Cents(0)
    where: str | None = None
    collection_code: str | None = None
    replace_collection_code: bool = False
    alert_message: str | None = None
    alert_mode: str = "skip"


@dataclass(frozen=True)
class CreateResult:
    run_id: int
    current_period_end: date
    certified_customers: int
    certified_cents: Cents
    fee_cents: Cents
    skipped_pending: int
    collection_codes_assigned: int
    alerts_added: int


@dataclass(frozen=True)
class UpdateResult:
    posted_date: date
    applied: int
    reapplied: int
    adjustments: int
    fees: int
    adjusted_cents: Cents
    fee_cents: Cents
    run_ids: tuple[int, ...] = field(default_factory=tuple)


def fill_year(template: str, on: date) -> str:
    """Replace ``{year}`` with the four-digit year of ``on`` (seed 004)."""
    return template.replace("{year}", f"{on.year:04d}")


def _pending_customers(session: Session, community_id: int) -> set[int]:
    applied = select(CertificationPosting.certification_id).where(
        CertificationPosting.kind == "apply"
    )
    stmt = (
        select(Certification.customer_id)
        .join(CertificationRun, CertificationRun.id == Certification.run_id)
        .where(CertificationRun.community_id == community_id, Certification.id.not_in(applied))
    )
    return set(session.scalars(stmt))


def create_certifications(
    session: Session, community: Community, options: CreateOptions, *, actor: str
) -> CreateResult:
    """Create certification records for the selected customers (one run)."""
    if options.fee < 0:
        raise InvalidInput("fee: cannot be negative", field="fee")
    if options.alert_mode not in ALERT_MODES:
        raise InvalidInput(f"alert mode: {options.alert_mode!r} is not skip, append or replace")
    description = options.description.strip()
    if not description or len(fill_year(description, options.cert_date)) > 200:
        raise InvalidInput("description: 1 to 200 characters", field="description")
    codes = set(session.scalars(select(Service.code).where(Service.community_id == community.id)))
    where = parse_where(options.where or "", codes)
    current_end = period_end_for(options.period, community.period_months)
    lines = certifiable_lines(
        session, community.id, options.cert_date, current_end, community.period_months, where
    )
    pending = _pending_customers(session, community.id)
    by_customer: dict[int, list[Line]] = defaultdict(list)
    for line in lines:
        if line.customer_id not in pending:
            by_customer[line.customer_id].append(line)
    skipped = len({ln.customer_id for ln in lines} & pending)
    run = CertificationRun(
        community_id=community.id,
        cert_date=options.cert_date,
        current_period_end=current_end,
        description=description,
        fee_cents=options.fee,
        criteria=options.where,
        collection_code=options.collection_code,
        collection_mode=(
            "none"
            if not options.collection_code
            else "replace"
            if options.replace_collection_code
            else "assign"
        ),
        alert_message=options.alert_message,
        alert_mode=options.alert_mode,
        created_at=now(),
        created_by=actor,
    )
    session.add(run)
    session.flush()
    customer_ids = sorted(by_customer)
    cert_ids = _insert_certifications(session, run, by_customer, customer_ids, options.fee)
    line_rows = [
        {
            "certification_id": cert_ids[cid],
            "service_id": ln.service_id,
            "period_id": ln.period_id,
            "amount_cents": ln.amount,
        }
        for cid in customer_ids
        for ln in by_customer[cid]
    ]
    if line_rows:
        session.execute(insert(CertificationLine), line_rows)
    assigned = (
        assign_collection_code(
            session,
            customer_ids,
            options.collection_code,
            replace=options.replace_collection_code,
            actor=actor,
        )
        if options.collection_code
        else []
    )
    alerted = (
        add_alert_to_many(
            session,
            customer_ids,
            fill_year(options.alert_message, options.cert_date),
            mode=options.alert_mode,
            actor=actor,
        )
        if options.alert_message
        else []
    )
    total = sum(ln.amount for cid in customer_ids for ln in by_customer[cid])
    audit(
        session,
        actor,
        "certification.create",
        "certification_run",
        run.id,
        None,
        {"customers": [None, len(customer_ids)], "certified_cents": [None, total]},
    )
    return CreateResult(
        run_id=run.id,
        current_period_end=current_end,
        certified_customers=len(customer_ids),
        certified_cents=Cents(total),
        fee_cents=Cents(options.fee * len(customer_ids)),
        skipped_pending=skipped,
        collection_codes_assigned=len(assigned),
        alerts_added=len(alerted),
    )


def _insert_certifications(
    session: Session,
    run: CertificationRun,
    by_customer: dict[int, list[Line]],
    customer_ids: list[int],
    fee: int,
) -> dict[int, int]:
    if not customer_ids:
        return {}
    rows = session.execute(
        insert(Certification).returning(
            Certification.customer_id, Certification.id, sort_by_parameter_order=True
        ),
        [
            {
                "run_id": run.id,
                "customer_id": cid,
                "fee_cents": fee,
                "amount_cents": sum(ln.amount for ln in by_customer[cid]),
            }
            for cid in customer_ids
        ],
    )
    return {cid: cert_id for cid, cert_id in rows}


@dataclass
class _Plan:
    """The ledger rows one certification posting writes."""

    certification_id: int
    customer_id: int
    generation: int
    kind: str
    rows: list[dict[str, object]]


def update_balances(
    session: Session,
    community: Community,
    *,
    posted_date: date,
    actor: str,
    run_id: int | None = None,
    reapply: bool = False,
    progress: Progress | None = None,
) -> UpdateResult:
    """Post certifications to the customers' balances, exactly once each.

    Without ``reapply`` only certifications never posted are posted. With it, those already
    posted are reversed (new rows) and posted again as their next generation.
    """
    runs = _runs(session, community, run_id)
    for run in runs:
        if posted_date < run.cert_date:
            raise InvalidInput(
                f"date: {posted_date.isoformat()} is before certification run {run.id}'s "
                f"certification date {run.cert_date.isoformat()}; the date must include the "
                "certification date",
                field="date",
            )
    run_by_id = {r.id: r for r in runs}
    certs = list(
        session.scalars(
            select(Certification)
            .where(Certification.run_id.in_(run_by_id))
            .order_by(Certification.id)
        )
    )
    state = _posting_state(session, [c.id for c in certs])
    period = ensure_period(session, community, posted_date)
    lines = _lines_by_cert(session, [c.id for c in certs])
    plans: list[_Plan] = []
    applied = reapplied = 0
    for cert in certs:
        current, reversed_ = state.get(cert.id, (0, 0))
        if current and (not reapply or reversed_ == current):
            continue
        run = run_by_id[cert.run_id]
        if current:
            plans.append(_reversal(session, cert, current))
            reapplied += 1
        else:
            applied += 1
        plans.append(_application(cert, current + 1, run, lines[cert.id], period.id, posted_date))
    written = _write(session, plans, posted_date, actor, progress)
    adjustments = [r for p in plans if p.kind == "apply" for r in p.rows if r["kind"] == "PADJ"]
    fees = [r for p in plans if p.kind == "apply" for r in p.rows if r["kind"] == "FEE"]
    return UpdateResult(
        posted_date=posted_date,
        applied=applied,
        reapplied=reapplied,
        adjustments=len(adjustments),
        fees=len(fees),
        adjusted_cents=Cents(-sum(int(str(r["amount_cents"])) for r in adjustments)),
        fee_cents=Cents(sum(int(str(r["amount_cents"])) for r in fees)),
        run_ids=tuple(sorted({c.run_id for c in certs if c.id in written})),
    )


def _runs(session: Session, community: Community, run_id: int | None) -> list[CertificationRun]:
    stmt = select(CertificationRun).where(CertificationRun.community_id == community.id)
    if run_id is not None:
        stmt = stmt.where(CertificationRun.id == run_id)
    runs = list(session.scalars(stmt.order_by(CertificationRun.id)))
    if run_id is not None and not runs:
        raise NotFound(f"no certification run {run_id} in {community.code}", run_id=run_id)
    return runs


def _posting_state(session: Session, cert_ids: list[int]) -> dict[int, tuple[int, int]]:
    """certification id -> (newest applied generation, newest reversed generation)."""
    out: dict[int, tuple[int, int]] = {}
    for i in range(0, len(cert_ids), 5000):
        chunk = cert_ids[i : i + 5000]
        for cid, kind, gen in session.execute(
            select(
                CertificationPosting.certification_id,
                CertificationPosting.kind,
                func.max(CertificationPosting.generation),
            )
            .where(CertificationPosting.certification_id.in_(chunk))
            .group_by(CertificationPosting.certification_id, CertificationPosting.kind)
        ):
            applied, reversed_ = out.get(cid, (0, 0))
            out[cid] = (gen, reversed_) if kind == "apply" else (applied, gen)
    return out


def _lines_by_cert(session: Session, cert_ids: list[int]) -> dict[int, list[CertificationLine]]:
    out: dict[int, list[CertificationLine]] = defaultdict(list)
    for i in range(0, len(cert_ids), 5000):
        chunk = cert_ids[i : i + 5000]
        for line in session.scalars(
            select(CertificationLine)
            .where(CertificationLine.certification_id.in_(chunk))
            .order_by(CertificationLine.id)
        ):
            out[line.certification_id].append(line)
    return out


def _row(
    customer_id: int,
    service_id: int,
    period_id: int,
    kind: str,
    amount: int,
    on: date,
    description: str,
) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "service_id": service_id,
        "period_id": period_id,
        "kind": kind,
        "amount_cents": amount,
        "txn_date": on,
        "description": description,
    }


def _application(
    cert: Certification,
    generation: int,
    run: CertificationRun,
    lines: list[CertificationLine],
    fee_period_id: int,
    on: date,
) -> _Plan:
    text = fill_year(run.description, run.cert_date)
    rows = [
        _row(cert.customer_id, ln.service_id, ln.period_id, "PADJ", -ln.amount_cents, on, text)
        for ln in lines
    ]
    if cert.fee_cents:
        biggest = max(lines, key=lambda ln: (ln.amount_cents, -ln.service_id))
        rows.append(
            _row(
                cert.customer_id,
                biggest.service_id,
                fee_period_id,
                "FEE",
                cert.fee_cents,
                on,
                f"{text} fee",
            )
        )
    return _Plan(cert.id, cert.customer_id, generation, "apply", rows)


def _reversal(session: Session, cert: Certification, generation: int) -> _Plan:
    posted = session.execute(
        select(Transaction)
        .join(CertificationTransaction, CertificationTransaction.transaction_id == Transaction.id)
        .join(CertificationPosting, CertificationPosting.id == CertificationTransaction.posting_id)
        .where(
            CertificationPosting.certification_id == cert.id,
            CertificationPosting.generation == generation,
            CertificationPosting.kind == "apply",
        )
        .order_by(Transaction.id)
    ).scalars()
    rows = [
        _row(
            t.customer_id,
            t.service_id,
            t.period_id,
            "PADJ",
            -t.amount_cents,
            t.txn_date,
            f"Reversal of #{t.id}: {t.description or ''}"[:200],
        )
        for t in posted
    ]
    return _Plan(cert.id, cert.customer_id, generation, "reverse", rows)


def _write(
    session: Session, plans: list[_Plan], on: date, actor: str, progress: Progress | None
) -> set[int]:
    """Insert postings (the unique constraint refuses a second apply), their ledger rows, the
    links, audit entries and the feed, in batches, all in the caller's transaction."""
    stamp = now()
    done: set[int] = set()
    community_of = (
        dict(
            session.execute(
                select(Customer.id, Customer.community_id).where(
                    Customer.id.in_({p.customer_id for p in plans})
                )
            ).all()
        )
        if plans
        else {}
    )
    for start in range(0, len(plans), 2000):
        batch = plans[start : start + 2000]
        posting_ids = list(
            session.scalars(
                insert(CertificationPosting).returning(
                    CertificationPosting.id, sort_by_parameter_order=True
                ),
                [
                    {
                        "certification_id": p.certification_id,
                        "generation": p.generation,
                        "kind": p.kind,
                        "posted_date": on,
                        "posted_at": stamp,
                        "posted_by": actor,
                    }
                    for p in batch
                ],
            )
        )
        rows = [dict(r, posted_by=actor, posted_at=stamp) for p in batch for r in p.rows]
        txn_ids = (
            list(
                session.scalars(
                    insert(Transaction).returning(Transaction.id, sort_by_parameter_order=True),
                    rows,
                )
            )
            if rows
            else []
        )
        links, feed, it = [], [], iter(txn_ids)
        for plan, posting_id in zip(batch, posting_ids, strict=True):
            for _ in plan.rows:
                tid = next(it)
                links.append({"posting_id": posting_id, "transaction_id": tid})
                feed.append(
                    (community_of[plan.customer_id], plan.customer_id, "transaction", tid, "post")
                )
            done.add(plan.certification_id)
        if links:
            session.execute(insert(CertificationTransaction), links)
        for plan in batch:
            audit(
                session,
                actor,
                f"certification.{plan.kind}",
                "certification",
                plan.certification_id,
                plan.customer_id,
                {
                    "generation": [None, plan.generation],
                    "amount_cents": [None, sum(int(str(r["amount_cents"])) for r in plan.rows)],
                },
            )
        outbox.record_many(session, feed)
        if progress:
            progress(min(start + len(batch), len(plans)), len(plans))
    session.flush()
    return done
