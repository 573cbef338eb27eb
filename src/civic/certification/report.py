"""Certification records as data, CSV and PDF (the seed's "Print option": one notice page per
customer, then a summary page)."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civic.certification.run import fill_year
from civic.certification.tables import (
    Certification,
    CertificationLine,
    CertificationPosting,
    CertificationRun,
)
from civic.ledger.tables import BillingPeriod, Community, Customer, Service
from civic.money import Cents, format_cents


@dataclass(frozen=True)
class CertifiedPeriod:
    service: str
    period_end: date
    amount: Cents


@dataclass(frozen=True)
class CertificationView:
    id: int
    run_id: int
    cert_date: date
    description: str
    account_number: str
    name: str
    service_address: str | None
    mailing_address: str | None
    amount: Cents
    fee: Cents
    status: str  # pending, applied, reapplied
    lines: tuple[CertifiedPeriod, ...]


def list_certifications(
    session: Session, community: Community, run_id: int | None = None
) -> list[CertificationView]:
    stmt = (
        select(Certification, CertificationRun, Customer)
        .join(CertificationRun, CertificationRun.id == Certification.run_id)
        .join(Customer, Customer.id == Certification.customer_id)
        .where(CertificationRun.community_id == community.id)
        .order_by(CertificationRun.id, Customer.account_number)
    )
    if run_id is not None:
        stmt = stmt.where(CertificationRun.id == run_id)
    rows = session.execute(stmt).all()
    ids = [c.id for c, _, _ in rows]
    lines: dict[int, list[CertifiedPeriod]] = defaultdict(list)
    applies: dict[int, int] = {}
    for i in range(0, len(ids), 5000):
        chunk = ids[i : i + 5000]
        for cid, code, end, amount in session.execute(
            select(
                CertificationLine.certification_id,
                Service.code,
                BillingPeriod.period_end,
                CertificationLine.amount_cents,
            )
            .join(Service, Service.id == CertificationLine.service_id)
            .join(BillingPeriod, BillingPeriod.id == CertificationLine.period_id)
            .where(CertificationLine.certification_id.in_(chunk))
            .order_by(Service.code, BillingPeriod.period_end)
        ):
            lines[cid].append(CertifiedPeriod(code, end, Cents(amount)))
        applies.update(
            (cid, n)
            for cid, n in session.execute(
                select(CertificationPosting.certification_id, func.count())
                .where(
                    CertificationPosting.certification_id.in_(chunk),
                    CertificationPosting.kind == "apply",
                )
                .group_by(CertificationPosting.certification_id)
            )
        )
    return [
        CertificationView(
            id=cert.id,
            run_id=run.id,
            cert_date=run.cert_date,
            description=fill_year(run.description, run.cert_date),
            account_number=cust.account_number,
            name=_name(cust),
            service_address=cust.service_address,
            mailing_address=cust.mailing_address,
            amount=Cents(cert.amount_cents),
            fee=Cents(cert.fee_cents),
            status={0: "pending", 1: "applied"}.get(applies.get(cert.id, 0), "reapplied"),
            lines=tuple(lines[cert.id]),
        )
        for cert, run, cust in rows
    ]


def _name(c: Customer) -> str:
    if c.business_name:
        return c.business_name
    return " ".join(p for p in (c.first_name, c.middle_name, c.last_name, c.suffix) if p)


CSV_COLUMNS = (
    "certification_id",
    "run_id",
    "cert_date",
    "account_number",
    "name",
    "service",
    "period_end",
    "amount",
    "fee",
    "status",
)


def write_csv(views: list[CertificationView], path: Path) -> int:
    """One row per certified service and period (the fee on each customer's first row)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(CSV_COLUMNS)
        n = 0
        for v in views:
            for i, line in enumerate(v.lines):
                out.writerow(
                    [
                        v.id,
                        v.run_id,
                        v.cert_date.isoformat(),
                        v.account_number,
                        v.name,
                        line.service,
                        line.period_end.isoformat(),
                        format_cents(line.amount),
                        format_cents(v.fee) if i == 0 else "",
                        v.status,
                    ]
                )
                n += 1
    return n


def write_pdf(views: list[CertificationView], path: Path, community: Community) -> int:
    """One notice page per customer, then a summary page; returns the page count."""
    from fpdf import FPDF

    pdf = FPDF(format="letter")
    pdf.set_auto_page_break(auto=True, margin=18)
    for v in views:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 15)
        pdf.cell(
            0,
            10,
            _latin1(f"{community.name}: Notice of Tax Certification"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("Helvetica", "", 11)
        for text in (
            v.name,
            v.mailing_address or v.service_address or "",
            f"Account {v.account_number}",
            f"Certification date {v.cert_date:%m/%d/%Y}",
            v.description,
        ):
            pdf.cell(0, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        _table(pdf, *_notice_grid(v))
        pdf.ln(2)
        pdf.set_font("Helvetica", "", 11)
        pdf.cell(0, 7, f"Certified amount: {format_cents(v.amount)}", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 7, f"Certification fee: {format_cents(v.fee)}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 7, f"Total: {format_cents(v.amount + v.fee)}", new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(
        0,
        10,
        _latin1(f"{community.name}: Tax certification summary"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    by_service: dict[str, int] = defaultdict(int)
    for v in views:
        for ln in v.lines:
            by_service[ln.service] += ln.amount
    rows = [[code, format_cents(total)] for code, total in sorted(by_service.items())]
    rows.append(["Fees", format_cents(sum(v.fee for v in views))])
    rows.append(["Customers", str(len(views))])
    rows.append(["Total certified", format_cents(sum(v.amount for v in views))])
    _table(pdf, ["", "Amount"], rows)
    pdf.output(str(path))
    return pdf.pages_count


def _notice_grid(v: CertificationView) -> tuple[list[str], list[list[str]]]:
    """Periods down, services across: one row per period, so a notice fits on one page."""
    services = sorted({ln.service for ln in v.lines})
    cells = {(ln.period_end, ln.service): int(ln.amount) for ln in v.lines}
    rows = [
        [f"{end:%m/%d/%Y}"]
        + [format_cents(cells[(end, s)]) if (end, s) in cells else "" for s in services]
        + [format_cents(sum(cells.get((end, s), 0) for s in services))]
        for end in sorted({ln.period_end for ln in v.lines})
    ]
    return ["Period end", *services, "Certified"], rows


def _table(pdf: object, header: list[str], rows: list[list[str]]) -> None:
    from fpdf import FPDF

    assert isinstance(pdf, FPDF)
    width = (pdf.w - pdf.l_margin - pdf.r_margin) / len(header)
    height = 7 if len(rows) <= 20 else 5
    pdf.set_font("Helvetica", "B", 10)
    for h in header:
        pdf.cell(width, height, h, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 10 if height == 7 else 9)
    for row in rows:
        for i, cell in enumerate(row):
            pdf.cell(width, height, _latin1(cell), border=1, align="R" if i else "L")
        pdf.ln()


def _latin1(text: str) -> str:
    """The PDF core fonts are Latin-1: replace what they cannot show."""
    return text.encode("latin-1", "replace").decode("latin-1")
