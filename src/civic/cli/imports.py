"""``civic import customers | transactions | readings | orders FILE.csv``: load real exports.

A thin shell over ``civic.ledger.imports.import_csv``: open the ledger, show a progress bar on
stderr, print the summary (or ``--json``), and exit 1 when any row was rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from civic.cli.common import (
    ActorOption,
    CommunityOption,
    DbOption,
    JsonOption,
    actor_name,
    open_engine,
)
from civic.cli.output import console, err_console, print_json
from civic.config import Settings
from civic.errors import InvalidInput
from civic.ledger.imports import (
    DEFAULT_BATCH_SIZE,
    ImportProgress,
    ImportSummary,
    canonical_fields,
    import_csv,
    parse_mapping,
)
from civic.matching.prevent import screening_for

app = typer.Typer(
    help="Import CSV exports (UTF-8 or Windows-1252, with a header row): customers, "
    "transactions, meter readings and orders. Bad rows are listed with their line numbers and "
    "written to NAME.rejects.csv beside the file; the good rows are stored. Importing the same "
    "file again adds nothing. See docs/import.md.",
    no_args_is_help=True,
)

SHOWN = 20
"""Rejected rows listed on the terminal; the rejects file has them all."""
SCREENED = ("customers", "orders")
"""Kinds whose rows may create customers: each such row is matched against the existing
customers first (civic.matching.prevent)."""

FileArg = Annotated[
    Path,
    typer.Argument(
        help="The CSV file to import (its first row names the columns).", show_default=False
    ),
]
StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Store nothing at all if any row is bad: check the whole file first, then store "
        "it in one transaction.",
    ),
]
BatchOption = Annotated[
    int,
    typer.Option(
        "--batch-size",
        min=1,
        help="Rows per database transaction (a crash or Ctrl-C loses at most the unfinished "
        "batch, which is rolled back).",
    ),
]


def _map_help(kind: str) -> str:
    refs = ", ref:TYPE" if kind in SCREENED else ""
    return (
        "Map a file column to a field, COLUMN=FIELD (repeatable); COLUMN=- ignores a column. "
        f"Columns already named like a field need no mapping. Fields: "
        f"{', '.join(canonical_fields(kind))}{refs}."
    )


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


@contextmanager
def _progress(path: Path) -> Iterator[Callable[[ImportProgress], None]]:
    """A progress bar on stderr (so ``--json`` output stays clean), one per phase (scanning,
    checking, importing); yields the callback."""
    with _progress_bar() as bar:
        current: dict[str, TaskID] = {}

        def update(p: ImportProgress) -> None:
            if p.phase not in current:
                for task in current.values():
                    bar.remove_task(task)
                current.clear()
                description = f"{p.phase.capitalize()} {path.name}"
                current[p.phase] = bar.add_task(description, total=p.bytes_total, rows=0)
            bar.update(current[p.phase], completed=p.bytes_done, rows=p.rows)

        yield update


def _run(
    kind: str,
    path: Path,
    mapping: list[str] | None,
    strict: bool,
    batch_size: int,
    community: str | None,
    db: str | None,
    actor: str | None,
    json_out: bool,
    no_match: bool = False,
) -> None:
    columns = parse_mapping(mapping or [])
    engine = open_engine(db)
    cache_dir = Settings().match_cache_dir
    screened = kind in SCREENED and not no_match
    screening = (
        screening_for(engine, cache_dir=cache_dir, community=community) if screened else None
    )
    try:
        with _progress(path) as callback:
            summary = import_csv(
                engine,
                kind,
                path,
                actor=actor_name(actor),
                community=community,
                mapping=columns,
                strict=strict,
                batch_size=batch_size,
                progress=callback,
                screening=screening,
            )
    finally:
        if screening is not None:
            screening.close()
        engine.dispose()
    if json_out:
        print_json(summary_dict(summary))
    else:
        _print(summary)
    if summary.rejected:
        where = f": see {summary.rejects_file}" if summary.rejects_file else ""
        if not summary.stored:
            raise InvalidInput(
                f"--strict: {summary.rejected:,} bad rows, nothing was stored{where}",
            )
        raise InvalidInput(f"{summary.rejected:,} rows rejected (the others were stored){where}")


def summary_dict(summary: ImportSummary) -> dict[str, Any]:
    """The summary as JSON-ready values, problems as ``{line, reason}``."""
    return {
        "kind": summary.kind,
        "file": summary.file,
        "encoding": summary.encoding,
        "read": summary.read,
        "added": summary.added,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "rejected": summary.rejected,
        "stored": summary.stored,
        "strict": summary.strict,
        "rejects_file": summary.rejects_file,
        "batches": summary.batches,
        "seconds": summary.seconds,
        "problems": [{"line": p.subject["line"], "reason": p.message} for p in summary.problems],
        "screening": summary.screening,
        "attached_by_reference": summary.attached_by_reference,
        "attached_by_score": summary.attached_by_score,
        "held": summary.held,
        "created": summary.created,
    }


def _print(summary: ImportSummary) -> None:
    name = Path(summary.file).name
    s = summary
    stored = "" if s.stored else " — nothing stored (--strict)"
    console.print(
        f"{s.kind.capitalize()} from {name}: {s.read:,} rows read, {s.added:,} added, "
        f"{s.updated:,} updated, {s.unchanged:,} unchanged, {s.rejected:,} rejected "
        f"({s.seconds:.1f} s){stored}.",
        markup=False,
    )
    if s.screening is not None and s.stored:
        screened = s.attached_by_reference + s.attached_by_score + s.held + s.created
        console.print(
            f"Matched {screened:,} rows that would create a customer ({s.screening}): "
            f"{s.attached_by_reference:,} attached by reference, {s.attached_by_score:,} "
            f"attached by score, {s.held:,} held for review (`civic match holds`), "
            f"{s.created:,} created.",
            markup=False,
        )
    if not s.problems:
        return
    console.print(f"Rejected rows (all of them are in {s.rejects_file}):", markup=False)
    for problem in s.problems[:SHOWN]:
        console.print(f"  line {problem.subject['line']}: {problem.message}", markup=False)
    if s.rejected > SHOWN:
        console.print(f"  ... and {s.rejected - SHOWN:,} more", markup=False)


@app.command(
    "customers",
    help="Import customers, keyed by account number: a new account is added, a differing one "
    "updated (audited, version bumped), an identical one left unchanged. A new account is "
    "first matched against the existing customers: an equal reference or a merge-tier match "
    "attaches it to that customer, a review-tier match holds it (`civic match holds`).",
)
def customers(
    path: FileArg,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", "-m", help=_map_help("customers"), show_default=False),
    ] = None,
    strict: StrictOption = False,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
    no_match: Annotated[
        bool,
        typer.Option(
            "--no-match",
            help="Create every new account without matching it first: for bringing in a whole "
            "legacy export whose duplicates `civic match run` is to find and a clerk to merge.",
        ),
    ] = False,
) -> None:
    """Import customers."""
    _run("customers", path, mapping, strict, batch_size, community, db, actor, json_out, no_match)


@app.command(
    "transactions",
    help="Import ledger transactions (CHG, PAY, PADJ, FEE, VOID) with amounts as the clerk "
    "typed them (payments positive); a VOID names its payment by voids (its external_id) or "
    "by reference (check number).",
)
def transactions(
    path: FileArg,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", "-m", help=_map_help("transactions"), show_default=False),
    ] = None,
    strict: StrictOption = False,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Import ledger transactions."""
    _run("transactions", path, mapping, strict, batch_size, community, db, actor, json_out)


@app.command(
    "readings",
    help="Import meter readings; one with the same meter, billing period, reading and date as "
    "a stored one is a duplicate and skipped.",
)
def readings(
    path: FileArg,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", "-m", help=_map_help("readings"), show_default=False),
    ] = None,
    strict: StrictOption = False,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Import meter readings."""
    _run("readings", path, mapping, strict, batch_size, community, db, actor, json_out)


@app.command(
    "orders",
    help="Import purchase and service orders, keyed by order number: added, updated "
    "(audited) or unchanged. A row whose account number is missing or unknown finds its "
    "customer by ref:TYPE and/or name and address (attached, held for review, or - with an "
    "account number - a new customer).",
)
def orders(
    path: FileArg,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", "-m", help=_map_help("orders"), show_default=False),
    ] = None,
    strict: StrictOption = False,
    batch_size: BatchOption = DEFAULT_BATCH_SIZE,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Import orders."""
    _run("orders", path, mapping, strict, batch_size, community, db, actor, json_out)
