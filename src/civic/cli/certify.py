"""``civic certify create | update-balances | list | report``: tax certification (seed 004)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from civic.certification.report import list_certifications, write_csv, write_pdf
from civic.certification.run import CreateOptions, create_certifications, update_balances
from civic.cli.common import (
    ActorOption,
    CommunityOption,
    DbOption,
    JsonOption,
    actor_name,
    reading,
    writing,
)
from civic.cli.output import console, err_console, print_json
from civic.errors import InvalidInput
from civic.ledger import service
from civic.ledger.parsing import parse_date, parse_money
from civic.money import Cents, format_cents, to_decimal

app = typer.Typer(
    help="Tax certification: create certification records, update customer balances, list "
    "and print them.",
    no_args_is_help=True,
)


def _money(value: int) -> str:
    return str(to_decimal(value))


@app.command("create")
def create(
    when: Annotated[
        str,
        typer.Option(
            "--date",
            help="Certification date (2011-04-30 or "
            "4/30/2011); transactions after it are not counted.",
        ),
    ],
    period: Annotated[
        str,
        typer.Option(
            "--period",
            help="A date in the current billing period; "
            "the service's certification period counts back from "
            "it.",
        ),
    ],
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            help="Selection criteria, e.g. "
            '"status = active and balance > 100" (see '
            "docs/selection.md).",
            show_default=False,
        ),
    ] = None,
    description: Annotated[
        str,
        typer.Option(
            "--description", help="Transaction description; {year} becomes the four-digit year."
        ),
    ] = "Tax Certification {year}",
    fee: Annotated[str, typer.Option("--fee", help="Certification fee per customer.")] = "0.00",
    collection_code: Annotated[
        str | None,
        typer.Option(
            "--collection-code",
            help="Assign this collection code to certified customers that have none.",
            show_default=False,
        ),
    ] = None,
    replace_collection_code: Annotated[
        bool,
        typer.Option(
            "--replace-collection-code",
            help="Give the collection code to every certified customer, "
            "replacing the one they have.",
        ),
    ] = False,
    alert: Annotated[
        str | None,
        typer.Option(
            "--alert",
            help="Add this alert message ({year} allowed) to certified customers that have none.",
            show_default=False,
        ),
    ] = None,
    append: Annotated[
        bool,
        typer.Option("--append", help="Add the alert after the customer's existing alerts too."),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Replace all of the customer's alerts with the new one."),
    ] = False,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create tax certification records: the unpaid balance older than each service's current
    portion, fees excluded."""
    if append and replace:
        raise InvalidInput("--append and --replace: choose one")
    if (append or replace) and not alert:
        raise InvalidInput("--append/--replace need --alert MESSAGE")
    if replace_collection_code and not collection_code:
        raise InvalidInput("--replace-collection-code needs --collection-code CODE")
    options = CreateOptions(
        cert_date=parse_date(when, "date"),
        period=parse_date(period, "period"),
        description=description,
        fee=parse_money(fee, "fee"),
        where=where,
        collection_code=collection_code,
        replace_collection_code=replace_collection_code,
        alert_message=alert,
        alert_mode="append" if append else "replace" if replace else "skip",
    )
    with writing(db) as session, err_console.status("Computing certifiable balances..."):
        result = create_certifications(
            session, service.get_community(session, community), options, actor=actor_name(actor)
        )
    data: dict[str, Any] = asdict(result)
    for key in ("certified_cents", "fee_cents"):
        data[key.replace("_cents", "")] = _money(data.pop(key))
    if json_out:
        print_json(data)
        return
    console.print(
        f"Certification run {result.run_id}: {result.certified_customers} customers, "
        f"{format_cents(result.certified_cents)} certified, fees "
        f"{format_cents(result.fee_cents)} (current period ends "
        f"{result.current_period_end.isoformat()})."
    )
    if result.skipped_pending:
        console.print(
            f"Skipped {result.skipped_pending} customers whose earlier certification "
            "is not posted yet (run `civic certify update-balances`)."
        )
    if collection_code:
        console.print(
            f"Collection code {collection_code}: {result.collection_codes_assigned} "
            "customers updated."
        )
    if alert:
        console.print(f"Alert message: {result.alerts_added} customers updated.")


@app.command("update-balances")
def update_balances_cmd(
    when: Annotated[
        str,
        typer.Option(
            "--date", help="Date of the adjustment transactions; not before the certification date."
        ),
    ],
    run: Annotated[
        int | None,
        typer.Option(
            "--run",
            help="Only this certification run (default: "
            "every run with certifications not yet posted).",
            show_default=False,
        ),
    ] = None,
    reapply: Annotated[
        bool,
        typer.Option(
            "--reapply",
            help="Troubleshooting: reverse "
            "certifications already posted and post them again "
            "(both stay in the history).",
        ),
    ] = False,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Update Customer Balances: post certified amounts as payment adjustments (PADJ) per
    service and period and the fee as a FEE transaction — exactly once per certification."""
    posted = parse_date(when, "date")
    with (
        writing(db) as session,
        Progress(
            TextColumn("Posting certifications"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=json_out,
        ) as bar,
    ):
        task = bar.add_task("post", total=None)
        result = update_balances(
            session,
            service.get_community(session, community),
            posted_date=posted,
            actor=actor_name(actor),
            run_id=run,
            reapply=reapply,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if json_out:
        data: dict[str, Any] = asdict(result)
        data["adjusted"] = _money(data.pop("adjusted_cents"))
        data["fees_amount"] = _money(data.pop("fee_cents"))
        print_json(data)
        return
    if not result.applied and not result.reapplied:
        console.print(
            "Nothing to post: every certification is already posted "
            "(use --reapply to reverse and post again)."
        )
        return
    console.print(
        f"Posted {result.applied} certifications"
        + (f" and re-posted {result.reapplied}" if result.reapplied else "")
        + f" on {posted.isoformat()}: {result.adjustments} adjustments totalling "
        f"{format_cents(result.adjusted_cents)}, {result.fees} fees totalling "
        f"{format_cents(result.fee_cents)}."
    )


@app.command("list")
def list_cmd(
    run: Annotated[
        int | None, typer.Option("--run", help="Only this certification run.", show_default=False)
    ] = None,
    community: CommunityOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """List certification records: customer, amount per service and period, fee, status."""
    with reading(db) as session:
        views = list_certifications(session, service.get_community(session, community), run)
    if json_out:
        print_json(
            [
                {
                    "id": v.id,
                    "run_id": v.run_id,
                    "cert_date": v.cert_date,
                    "account_number": v.account_number,
                    "name": v.name,
                    "amount": _money(v.amount),
                    "fee": _money(v.fee),
                    "status": v.status,
                    "lines": [
                        {
                            "service": ln.service,
                            "period_end": ln.period_end,
                            "amount": _money(ln.amount),
                        }
                        for ln in v.lines
                    ],
                }
                for v in views
            ]
        )
        return
    table = Table(title=f"{len(views)} certifications")
    for col in ("Run", "Date", "Account", "Name", "Certified", "Fee", "Status"):
        table.add_column(col, justify="right" if col in ("Certified", "Fee") else "left")
    for v in views:
        table.add_row(
            str(v.run_id),
            v.cert_date.isoformat(),
            v.account_number,
            v.name,
            format_cents(v.amount),
            format_cents(v.fee),
            v.status,
        )
    console.print(table)
    console.print(f"Total certified: {format_cents(Cents(sum(v.amount for v in views)))}")


@app.command("report")
def report(
    out: Annotated[
        Path,
        typer.Argument(
            help="File to write: .csv or .pdf (one notice page per customer, then a summary page)."
        ),
    ],
    run: Annotated[
        int | None, typer.Option("--run", help="Only this certification run.", show_default=False)
    ] = None,
    community: CommunityOption = None,
    db: DbOption = None,
) -> None:
    """Print the certification records as CSV or PDF (the seed's Print option)."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".pdf"):
        raise InvalidInput(f"report: {out.name} must end in .csv or .pdf")
    with reading(db) as session:
        comm = service.get_community(session, community)
        views = list_certifications(session, comm, run)
        if suffix == ".csv":
            n = write_csv(views, out)
            console.print(f"Wrote {n} rows for {len(views)} certifications to {out}.")
        else:
            with err_console.status("Writing PDF..."):
                pages = write_pdf(views, out, comm)
            console.print(f"Wrote {pages} pages ({len(views)} notices and a summary) to {out}.")
