"""``civic match run | show | export | accept | reject | file | holds | release | attach``:
duplicate detection, its review queue, and the import rows held for review
(docs/matching.md)."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
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
from civic.cli.output import console, err_console, print_json, to_json
from civic.config import Settings
from civic.errors import InvalidInput
from civic.ledger.imports_csv import parse_mapping
from civic.matching import engine as model_engine
from civic.matching import file as match_file
from civic.matching import holds as held_rows
from civic.matching import service

app = typer.Typer(
    help="Find duplicate customer records: score pairs, review them, export the queue, score "
    "a raw CSV export.",
    no_args_is_help=True,
)

PairArg = Annotated[int, typer.Argument(help="The pair's id (from `civic match export`).")]
ByOption = Annotated[
    str | None,
    typer.Option(
        "--by",
        envvar="CIVIC_ACTOR",
        help="Who decides (default: your login name).",
        show_default=False,
    ),
]


@app.command("run")
def run(
    community: CommunityOption = None,
    retrain: Annotated[
        bool,
        typer.Option("--retrain", help="Train a new model instead of reusing the saved one."),
    ] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            envvar="CIVIC_MATCH_BACKEND",
            help="Where the matching runs: duckdb (embedded; the default) or spark (needs "
            "pip install 'civic-ledger[spark]' and Java 17; master from CIVIC_SPARK_MASTER, "
            "default local[2]; see docs/scaling.md).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    actor: ActorOption = None,
) -> None:
    """Score every plausible pair of customers and store the review queue (decisions made
    earlier are kept)."""
    chosen = _backend(backend)
    engine = open_engine(db)
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task("matching", total=None)
            summary = service.run(
                engine,
                community=community,
                retrain=retrain,
                actor=actor_name(actor),
                progress=lambda msg: bar.update(task, description=msg),
                backend=chosen,
            )
    finally:
        engine.dispose()
    if as_json:
        print_json(asdict(summary))
        return
    model = f"model v{summary.model_version}" + (" (trained now)" if summary.trained else "")
    console.print(
        f"Matched {summary.records:,} customers with {model} in {summary.seconds:.1f} s: "
        f"{summary.pairs:,} pairs suggested ({summary.merge_tier:,} merge, "
        f"{summary.review_tier:,} review) in {summary.clusters:,} clusters."
    )
    console.print(
        f"New {summary.new_pairs:,}; decisions kept {summary.kept_decisions:,}; "
        f"suggested again after a change {summary.resuggested:,}; "
        f"no longer suggested {summary.dropped:,}."
    )


def _backend(value: str | None) -> model_engine.Backend:
    """The backend chosen by ``--backend`` (or CIVIC_MATCH_BACKEND); for spark, the master
    from the settings (CIVIC_SPARK_MASTER)."""
    name = value if value is not None else Settings().match_backend
    if name == "duckdb":
        return "duckdb"
    if name == "spark":
        model_engine.configure_spark(Settings().spark_master)
        return "spark"
    raise InvalidInput(f"--backend {name}: expected one of {', '.join(model_engine.BACKENDS)}")


def _fmt(values: list[Any]) -> str:
    return " / ".join("" if v is None else str(v) for v in values) or "—"


@app.command("show")
def show(pair: PairArg, as_json: JsonOption = False, db: DbOption = None) -> None:
    """Show a suggested pair and its evidence: per field, the values compared, the level they
    fell in and the match weight it added or took away."""
    with reading(db) as session:
        view = service.get_pair(session, pair)
    if as_json:
        print_json(asdict(view))
        return
    console.print(
        f"Pair {view.id}: {view.left.account_number} {view.left.name} <-> "
        f"{view.right.account_number} {view.right.name}"
    )
    console.print(
        f"match weight {view.match_weight:.2f}, probability {view.match_probability:.6f}, "
        f"tier {view.tier}, {view.classification.replace('_', ' ')}, "
        f"cluster {view.cluster_id}, {view.status}"
        + (f" by {view.reviewer}" if view.reviewer else "")
    )
    table = Table("field", view.left.account_number, view.right.account_number, "level", "weight")
    prior = view.match_weight - sum(e["match_weight"] for e in view.evidence)
    table.add_row("(prior)", "", "", "before any field is compared", f"{prior:+.2f}")
    for e in view.evidence:
        table.add_row(
            e["comparison"],
            _fmt(e["left"]),
            _fmt(e["right"]),
            e["label"],
            f"{e['match_weight']:+.2f}",
        )
    console.print(table)
    for reason in view.reasons:
        console.print(f"not offered for merging: {reason}")


EXPORT_HEADER = (
    "pair_id",
    "customer_id_l",
    "account_l",
    "name_l",
    "customer_id_r",
    "account_r",
    "name_r",
    "match_weight",
    "match_probability",
    "tier",
    "classification",
    "cluster_id",
    "status",
    "reviewer",
)


@app.command("export")
def export(
    tier: Annotated[
        str | None,
        typer.Option("--tier", help="Only this tier: merge or review.", show_default=False),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write to this file (default: standard output).", show_default=False
        ),
    ] = None,
    community: CommunityOption = None,
    db: DbOption = None,
) -> None:
    """Write the review queue for a spreadsheet or a script."""
    if fmt not in ("csv", "json"):
        raise InvalidInput(f"--format {fmt}: expected csv or json")
    with reading(db) as session:
        views = service.list_pairs(session, tier=tier, community=community)
    rows = [
        (
            v.id,
            v.left.id,
            v.left.account_number,
            v.left.name,
            v.right.id,
            v.right.account_number,
            v.right.name,
            round(v.match_weight, 4),
            round(v.match_probability, 6),
            v.tier,
            v.classification,
            v.cluster_id,
            v.status,
            v.reviewer or "",
        )
        for v in views
    ]
    if fmt == "json":
        text = to_json([dict(zip(EXPORT_HEADER, r, strict=True)) for r in rows]) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_HEADER)
        writer.writerows(rows)
        text = buffer.getvalue()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        err_console.print(f"{len(rows):,} pairs written to {out}")


def _decide(pair: int, decision: str, by: str | None, db: str | None, as_json: bool) -> None:
    with writing(db) as session:
        view = service.decide(session, pair, decision, actor=actor_name(by))
    if as_json:
        print_json(asdict(view))
    else:
        console.print(
            f"Pair {view.id} ({view.left.account_number} / {view.right.account_number}) "
            f"{view.status} by {view.reviewer}."
        )


@app.command("accept")
def accept(
    pair: PairArg, by: ByOption = None, as_json: JsonOption = False, db: DbOption = None
) -> None:
    """Accept a suggestion: the two records are one customer (merge or link them next)."""
    _decide(pair, "accepted", by, db, as_json)


@app.command("reject")
def reject(
    pair: PairArg, by: ByOption = None, as_json: JsonOption = False, db: DbOption = None
) -> None:
    """Reject a suggestion: not suggested again unless one of the records changes."""
    _decide(pair, "rejected", by, db, as_json)


@app.command("file")
def score_file(
    export_file: Annotated[
        Path, typer.Argument(help="The CSV export to score (it is not imported).")
    ],
    id_column: Annotated[str, typer.Option("--id", help="The column that identifies a row.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the pairs (CSV).")],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=FIELD, as for `civic import customers` (canonical field names, "
            "ref:TYPE; COLUMN=- ignores a column). Repeat for each column.",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Score a raw export's rows against each other with the ledger's saved model (or, when
    there is no ledger model yet, a model trained on the file) and write
    id_l,id_r,match_probability,tier,classification."""
    if not export_file.exists():
        raise InvalidInput(f"no file {export_file}")
    model = _saved_model(db)
    pairs = match_file.score_file(export_file, id_column, parse_mapping(mapping or []), model)
    match_file.write_pairs(pairs, out)
    merge = sum(1 for p in pairs if p.tier == "merge")
    console.print(f"{len(pairs):,} pairs ({merge:,} merge tier) written to {out}")


def _saved_model(db: str | None) -> dict[str, Any] | None:
    url = ledger_url(db)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    with reading(db) as session:
        saved = service.latest_model(session)
        return dict(saved.model) if saved else None


HoldArg = Annotated[int, typer.Argument(help="The held row's id (from `civic match holds`).")]


@app.command("holds")
def holds(
    status: Annotated[
        str,
        typer.Option("--status", help="held, released, attached, or all."),
    ] = "held",
    community: CommunityOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List the import rows held for review: each would have created a customer, but scored in
    the review tier against an existing one (its candidate)."""
    if status not in ("held", "released", "attached", "all"):
        raise InvalidInput(f"--status {status}: expected held, released, attached or all")
    with reading(db) as session:
        views = held_rows.list_holds(
            session, status=None if status == "all" else status, community=community
        )
    if as_json:
        print_json([asdict(v) for v in views])
        return
    if not views:
        console.print(f"No {'' if status == 'all' else status + ' '}import rows.")
        return
    table = Table("hold", "status", "from", "row", "candidate", "weight", "why not attached")
    for v in views:
        table.add_row(
            str(v.id),
            v.status,
            f"{v.kind} {v.file}:{v.line}",
            f"{v.account_number or '-'} {v.name}",
            f"{v.candidate_account or '-'} {v.candidate_name or ''}",
            "" if v.match_weight is None else f"{v.match_weight:.2f}",
            "; ".join(v.reasons),
        )
    console.print(table)


def _hold_done(view: held_rows.HoldView, as_json: bool) -> None:
    if as_json:
        print_json(asdict(view))
        return
    what = "created customer" if view.status == "released" else "attached to customer"
    console.print(
        f"Held row {view.id} ({view.file}:{view.line}) {view.status} by {view.decided_by}: "
        f"{what} {view.customer_id}."
    )


@app.command("release")
def release(
    hold: HoldArg,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="The account number for the new customer (required when the held row has "
            "none, e.g. an order matched by reference).",
            show_default=False,
        ),
    ] = None,
    by: ByOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Release a held row: it is a new customer after all; create it (and its order)."""
    with writing(db) as session:
        view = held_rows.release(session, hold, actor=actor_name(by), account=account)
    _hold_done(view, as_json)


@app.command("attach")
def attach(
    hold: HoldArg, by: ByOption = None, as_json: JsonOption = False, db: DbOption = None
) -> None:
    """Attach a held row to its candidate: the existing customer gets the row's references
    (and its order)."""
    with writing(db) as session:
        view = held_rows.attach(session, hold, actor=actor_name(by))
    _hold_done(view, as_json)
