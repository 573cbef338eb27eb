"""Top-level ledger commands: ``civic init``, ``civic balance`` and ``civic changes``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from civic.cli.common import (
    ActorOption,
    CommunityOption,
    DbOption,
    JsonOption,
    actor_name,
    ledger_url,
    open_engine,
    reading,
    sqlite_path,
    writing,
)
from civic.cli.output import console, print_json
from civic.db import transaction
from civic.ledger import migrate, outbox, service
from civic.ledger.customers import audit
from civic.ledger.parsing import parse_date
from civic.money import format_cents, to_decimal

changes_app = typer.Typer(
    help="The change feed the portal's sync reads (civic sync run): its extent, and "
    "pruning old changes.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("balance")(balance)
    app.add_typer(changes_app, name="changes")


def init(
    db: DbOption = None,
    community: Annotated[
        str | None,
        typer.Option(
            "--community",
            "-c",
            help="Create this community (code, e.g. SPRINGFIELD) with water, sewer and garbage "
            "services, if it does not exist yet.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="The community's full name (default: its code).", show_default=False
        ),
    ] = None,
    period_months: Annotated[
        int, typer.Option("--period-months", help="Months in one billing period (1, 2, 3, 6, 12).")
    ] = 1,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create a ledger database, or migrate an existing one to the newest schema."""
    url = ledger_url(db)
    path = sqlite_path(url)
    if path is not None and path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = open_engine(url, must_exist=False)
    try:
        before, after = migrate.upgrade(engine)
        created = None
        if community:
            with transaction(engine) as session:
                codes = {c.code for c in service.list_communities(session)}
                if community.strip().upper() not in codes:
                    created = service.create_community(
                        session,
                        community,
                        name or community,
                        actor=actor_name(actor),
                        period_months=period_months,
                    ).code
    finally:
        engine.dispose()
    result = {
        "database": url,
        "revision_before": before,
        "revision": after,
        "community_created": created,
    }
    if json_out:
        print_json(result)
        return
    if before is None:
        console.print(f"Created ledger {url} (schema {after}).")
    elif before != after:
        console.print(f"Migrated ledger {url} from {before} to {after}.")
    else:
        console.print(f"Ledger {url} is up to date (schema {after}).")
    if created:
        console.print(f"Created community {created} with services WA, SE, GA.")


def balance(
    account: Annotated[str, typer.Argument(help="Account number, e.g. 001234-01.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Balance as of this date (transactions dated up to it).",
            show_default=False,
        ),
    ] = None,
    community: CommunityOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """A customer's balance by service and billing period, aged (credits pay oldest first)."""
    with reading(db) as session:
        comm = service.get_community(session, community) if community else None
        customer = service.get_customer(session, account, comm)
        report = service.balance_report(
            session, customer, as_of=parse_date(as_of, "as_of") if as_of else None
        )
    if json_out:
        print_json(
            {
                "account_number": report.account_number,
                "as_of": report.as_of,
                "total": str(to_decimal(report.total)),
                "services": [
                    {
                        "service": s.service,
                        "name": s.name,
                        "balance": str(to_decimal(s.balance)),
                        "unapplied_credit": str(to_decimal(s.unapplied_credit)),
                        "periods": [
                            {
                                "period_end": p.period_end,
                                "age": p.age,
                                "charged": str(to_decimal(p.charged)),
                                "outstanding": str(to_decimal(p.outstanding)),
                            }
                            for p in s.periods
                        ],
                    }
                    for s in report.services
                ],
            }
        )
        return
    table = Table(title=f"Balance of {report.account_number}", show_lines=False)
    table.add_column("Service")
    table.add_column("Period end")
    table.add_column("Age", justify="right")
    table.add_column("Charged", justify="right")
    table.add_column("Outstanding", justify="right")
    for s in report.services:
        for p in s.periods:
            if p.outstanding or p.age == 0:
                table.add_row(
                    s.service,
                    p.period_end.isoformat(),
                    str(p.age),
                    format_cents(p.charged),
                    format_cents(p.outstanding),
                )
        if s.unapplied_credit:
            table.add_row(s.service, "credit", "", "", format_cents(s.unapplied_credit))
        table.add_row(
            f"[bold]{s.service} total[/]",
            "",
            "",
            "",
            f"[bold]{format_cents(s.balance)}[/]",
            end_section=True,
        )
    console.print(table)
    console.print(f"Total balance: [bold]{format_cents(report.total)}[/]")


@changes_app.command("prune")
def changes_prune(
    keep_days: Annotated[
        int,
        typer.Option(
            "--keep-days",
            min=1,
            help="Keep the changes of the last this many days; older ones are removed (the "
            "newest change is always kept). A portal whose last sync is older than that "
            "takes a full snapshot at its next run instead of reading the feed.",
        ),
    ] = 90,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")
    ] = False,
    actor: ActorOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Remove old changes from the feed (retention), in one transaction, audited."""
    before = datetime.now(UTC) - timedelta(days=keep_days)
    if dry_run:
        with reading(db) as session:
            result = outbox.prune(session, before, dry_run=True)
    else:
        with writing(db) as session:
            result = outbox.prune(session, before)
            audit(
                session,
                actor_name(actor),
                "changes.prune",
                "outbox",
                None,
                None,
                {
                    "keep_days": keep_days,
                    "before": before.isoformat(),
                    "deleted": result.deleted,
                    "first_kept": result.first_kept,
                },
            )
    if json_out:
        print_json(
            {
                "dry_run": dry_run,
                "keep_days": keep_days,
                "before": before.isoformat(),
                "deleted": result.deleted,
                "first_kept_seq": result.first_kept,
                "latest_seq": result.latest,
            }
        )
        return
    verb = "Would remove" if dry_run else "Removed"
    console.print(
        f"{verb} {result.deleted:,} change(s) recorded before {before:%Y-%m-%d %H:%M} UTC; "
        f"the feed keeps {result.first_kept if result.first_kept is not None else '-'}"
        f"..{result.latest}."
    )


@changes_app.command("show")
def changes_show(db: DbOption = None, json_out: JsonOption = False) -> None:
    """The feed's extent: how many changes it holds, the oldest and newest (sequence, time)."""
    with reading(db) as session:
        feed = outbox.extent(session)
    data = {
        "changes": feed.changes,
        "first_seq": feed.first_seq,
        "first_at": feed.first_at.isoformat() if feed.first_at else None,
        "latest_seq": feed.latest_seq,
        "latest_at": feed.latest_at.isoformat() if feed.latest_at else None,
    }
    if json_out:
        print_json(data)
        return
    for key, value in data.items():
        console.print(f"{key}: {value if value is not None else '-'}")
