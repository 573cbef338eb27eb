"""``civic demo``: build the sample town (``civic.demo``) in a ledger, write its truth file
beside it, and say what was built and what to try next."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from civic.cli.common import DbOption, JsonOption, ledger_url, open_engine, sqlite_path
from civic.cli.output import console, err_console, print_json
from civic.demo.load import customer_count, load_demo
from civic.demo.model import (
    DEFAULT_AS_OF,
    DEFAULT_COMMUNITY,
    DEFAULT_CUSTOMERS,
    DEFAULT_SEED,
    MAX_CUSTOMERS,
    MIN_CUSTOMERS,
    DemoOptions,
)
from civic.demo.summary import DemoSummary
from civic.demo.truth import default_truth_path, write_truth
from civic.errors import CivicError
from civic.ledger import migrate
from civic.ledger.parsing import parse_date
from civic.money import format_cents


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    db: DbOption = None,
    customers: Annotated[
        int,
        typer.Option(
            "--customers",
            min=MIN_CUSTOMERS,
            max=MAX_CUSTOMERS,
            help="How many customer accounts to build (up to 1,000,000 for benchmarks).",
        ),
    ] = DEFAULT_CUSTOMERS,
    seed: Annotated[
        int, typer.Option("--seed", help="The same seed always builds the same town.")
    ] = DEFAULT_SEED,
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of", help="The town's today: 24 monthly billing periods end before its month."
        ),
    ] = DEFAULT_AS_OF.isoformat(),
    community: Annotated[
        str, typer.Option("--community", "-c", help="Code of the community to create.")
    ] = DEFAULT_COMMUNITY,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="Where to write the truth of planted duplicates (default: beside a SQLite "
            "ledger as <name>.truth.json; for PostgreSQL <database>.truth.json here).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete an existing SQLite ledger file and start over."),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Build the sample town: customers with 24 months of water, sewer and garbage history,
    delinquent accounts, readings, orders, and planted duplicates recorded in a truth file."""
    options = DemoOptions(
        seed=seed, customers=customers, as_of=parse_date(as_of, "as_of"), community=community
    )
    url = ledger_url(db)
    _make_room(url, force)
    engine = open_engine(url, must_exist=False)
    try:
        migrate.upgrade(engine)
        summary, document = _load(engine, options, quiet=json_out)
    finally:
        engine.dispose()
    truth_path = truth or default_truth_path(url)
    write_truth(truth_path, document)
    suggestions = _next_steps(summary, db)
    if json_out:
        print_json({**summary.to_dict(), "truth_file": str(truth_path), "next": suggestions})
        return
    _print_summary(summary, truth_path, suggestions)


def _make_room(url: str, force: bool) -> None:
    """Refuse a ledger that holds customers; with ``--force`` delete a SQLite one first."""
    path = sqlite_path(url)
    if path is not None and path.exists() and force:
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            return
    engine = open_engine(url, must_exist=False)
    try:
        held = customer_count(engine) if inspect(engine).has_table("customers") else 0
    finally:
        engine.dispose()
    if not held:
        return
    if path is None:
        raise CivicError(
            f"the ledger at {url} already holds {held:,} customers: the demo needs an empty "
            "database (drop and re-create it; --force deletes SQLite files only)"
        )
    raise CivicError(
        f"{path} already holds a ledger with {held:,} customers: use --force to delete it "
        "and build the demo town afresh"
    )


def _load(
    engine: Engine, options: DemoOptions, *, quiet: bool
) -> tuple[DemoSummary, dict[str, Any]]:
    columns = (
        TextColumn("Building the sample town"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("customers"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, disable=quiet) as bar:
        task = bar.add_task("demo", total=options.customers)
        return load_demo(
            engine, options, progress=lambda done, _total: bar.update(task, completed=done)
        )


def _next_steps(summary: DemoSummary, db: str | None) -> list[str]:
    where = f" --db {shlex.quote(db)}" if db else ""
    examples = summary.examples
    steps = []
    if examples.get("delinquent_account"):
        account = examples["delinquent_account"]
        steps.append(f"civic customers show {account}{where}")
        steps.append(f"civic balance {account}{where}")
    steps.append(f"civic customers list --name {examples['common_name']}{where}")
    if examples.get("duplicate_last_name"):
        name = examples["duplicate_last_name"]
        name = f'"{name}"' if shlex.quote(name) != name else name
        steps.append(f"civic customers list --name {name}{where}")
    steps.append(f"civic serve api{where}")
    return steps


def _counts(values: dict[str, int]) -> str:
    return " · ".join(f"{key} {count:,}" for key, count in values.items()) or "none"


def _print_summary(summary: DemoSummary, truth_path: Path, steps: list[str]) -> None:
    rate = summary.customers / summary.seconds if summary.seconds else 0.0
    console.print(
        f"Built the sample town {summary.community} in {summary.database}: "
        f"{summary.customers:,} customers in {summary.seconds:.1f} s ({rate:,.0f} a second)."
    )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    by_status = summary.customers_by_status
    grid.add_row(
        "Customers",
        f"{_counts(by_status)}; {summary.no_online_access:,} without online access; "
        f"{summary.consolidated_members:,} consolidated-billing members",
    )
    kinds = summary.transactions_by_kind
    grid.add_row("Transactions", f"{sum(kinds.values()):,}: {_counts(kinds)}")
    grid.add_row(
        "Balances",
        f"owed {format_cents(summary.owed_cents)} · credits {format_cents(summary.credit_cents)}"
        f" · net {format_cents(summary.balance_cents)}",
    )
    grid.add_row("Delinquent", f"{summary.delinquent_accounts:,} accounts owe on 3+ periods")
    grid.add_row("Readings", f"{summary.readings:,}")
    grid.add_row("Orders", _counts(summary.orders_by_status))
    grid.add_row("References", f"{_counts(summary.refs_by_type)}; alerts {summary.alerts:,}")
    grid.add_row("Collection codes", _counts(summary.collection_codes))
    grid.add_row("Outbox", f"{summary.outbox_rows:,} changes")
    for cls, label in (
        ("duplicate", "Duplicates"),
        ("same_person", "Same person"),
        ("hard_negative", "Hard negatives"),
    ):
        grid.add_row(label, _counts(summary.truth[cls]))
    console.print(grid)
    console.print(f"The truth of what was planted is in {truth_path} (see docs/demo.md).")
    console.print("What to try next:")
    for step in steps:
        console.print(f"  {step}", markup=False)
