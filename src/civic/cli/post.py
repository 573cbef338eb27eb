"""``civic post charge | payment | adjust | fee | void``: append to the ledger."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from civic.cli.common import (
    ActorOption,
    CommunityOption,
    DbOption,
    JsonOption,
    actor_name,
    writing,
)
from civic.cli.output import console, print_json
from civic.errors import InvalidInput
from civic.ledger import service
from civic.ledger.parsing import parse_date, parse_money
from civic.ledger.tables import Customer, Transaction
from civic.money import format_cents, to_decimal

app = typer.Typer(
    help="Post to the ledger: charges, payments, payment adjustments, fees and voids. "
    "Rows are never changed afterwards; a correction is a new row.",
    no_args_is_help=True,
)

AccountArg = Annotated[str, typer.Argument(help="Account number, e.g. 001234-01.")]
AmountArg = Annotated[str, typer.Argument(help="Amount, e.g. 1,234.56 or $5.")]
ServiceOpt = Annotated[str, typer.Option("--service", "-s", help="Service code: WA, SE, GA, ...")]
DateOpt = Annotated[
    str | None,
    typer.Option(
        "--date",
        help="Transaction date, 2024-01-31 or 1/31/2024 (default: today).",
        show_default=False,
    ),
]
PeriodOpt = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="A date in the billing period billed (default: the period of the transaction date).",
        show_default=False,
    ),
]
DescOpt = Annotated[
    str | None, typer.Option("--description", "-d", help="Description.", show_default=False)
]
RefOpt = Annotated[
    str | None,
    typer.Option("--reference", "-r", help="Reference, e.g. a check number.", show_default=False),
]


def _date(text: str | None) -> date:
    return parse_date(text, "date") if text else date.today()


def _report(rows: list[Transaction], json_out: bool) -> None:
    if json_out:
        print_json(
            [
                {
                    "id": t.id,
                    "kind": t.kind,
                    "amount": str(to_decimal(t.amount_cents)),
                    "date": t.txn_date,
                }
                for t in rows
            ]
        )
        return
    for t in rows:
        console.print(
            f"Posted {t.kind} #{t.id}: {format_cents(t.amount_cents)} on {t.txn_date.isoformat()}."
        )


@app.command("charge")
def charge(
    account: AccountArg,
    amount: AmountArg,
    service_code: ServiceOpt,
    when: DateOpt = None,
    period: PeriodOpt = None,
    description: DescOpt = None,
    reference: RefOpt = None,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Post a charge (CHG) for a service."""
    with writing(db) as session:
        customer = _customer(session, account, community)
        txn = service.post_charge(
            session,
            customer,
            service_code,
            parse_money(amount, "amount"),
            _date(when),
            actor=actor_name(actor),
            period=parse_date(period, "period") if period else None,
            description=description,
            reference=reference,
        )
    _report([txn], json_out)


@app.command("fee")
def fee(
    account: AccountArg,
    amount: AmountArg,
    service_code: ServiceOpt,
    when: DateOpt = None,
    period: PeriodOpt = None,
    description: DescOpt = None,
    reference: RefOpt = None,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Post a fee (FEE), e.g. a late fee."""
    with writing(db) as session:
        customer = _customer(session, account, community)
        txn = service.post_fee(
            session,
            customer,
            service_code,
            parse_money(amount, "amount"),
            _date(when),
            actor=actor_name(actor),
            period=parse_date(period, "period") if period else None,
            description=description,
            reference=reference,
        )
    _report([txn], json_out)


@app.command("adjust")
def adjust(
    account: AccountArg,
    amount: Annotated[
        str,
        typer.Argument(help="Effect on the balance: negative lowers it, e.g. -12.00 or (12.00)."),
    ],
    service_code: ServiceOpt,
    when: DateOpt = None,
    period: PeriodOpt = None,
    description: DescOpt = None,
    reference: RefOpt = None,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Post a payment adjustment (PADJ)."""
    with writing(db) as session:
        customer = _customer(session, account, community)
        txn = service.post_adjustment(
            session,
            customer,
            service_code,
            parse_money(amount, "amount"),
            _date(when),
            actor=actor_name(actor),
            period=parse_date(period, "period") if period else None,
            description=description,
            reference=reference,
        )
    _report([txn], json_out)


@app.command("payment")
def payment(
    account: AccountArg,
    amount: AmountArg,
    service_code: Annotated[
        str | None,
        typer.Option(
            "--service",
            "-s",
            help="Pay this service only (default: split over the unpaid periods, oldest first).",
            show_default=False,
        ),
    ] = None,
    when: DateOpt = None,
    description: DescOpt = None,
    reference: RefOpt = None,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Post a payment (PAY)."""
    with writing(db) as session:
        customer = _customer(session, account, community)
        rows = service.post_payment(
            session,
            customer,
            parse_money(amount, "amount"),
            _date(when),
            actor=actor_name(actor),
            service_code=service_code,
            description=description,
            reference=reference,
        )
    _report(rows, json_out)


@app.command("void")
def void(
    account: AccountArg,
    transaction: Annotated[
        int | None,
        typer.Option("--transaction", "-t", help="Id of the payment to void.", show_default=False),
    ] = None,
    check: Annotated[
        str | None,
        typer.Option(
            "--check",
            help="Void every payment with this check number / reference.",
            show_default=False,
        ),
    ] = None,
    when: DateOpt = None,
    description: DescOpt = None,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Void a payment (VOID): a new row reversing it. A payment can be voided only once."""
    if (transaction is None) == (check is None):
        raise InvalidInput("say which payment: --transaction ID or --check NUMBER")
    with writing(db) as session:
        customer = _customer(session, account, community)
        ids = (
            [transaction]
            if transaction is not None
            else service.payments_by_reference(session, customer, check or "")
        )
        if not ids:
            raise InvalidInput(f"no payment with check number {check!r} on this account")
        rows = [
            service.post_void(
                session,
                customer,
                tid,
                _date(when),
                actor=actor_name(actor),
                description=description,
            )
            for tid in ids
        ]
    _report(rows, json_out)


def _customer(session: Session, account: str, community: str | None) -> Customer:
    comm = service.get_community(session, community) if community else None
    return service.get_customer(session, account, comm)
