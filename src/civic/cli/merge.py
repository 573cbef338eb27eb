"""``civic merge preview | apply | undo | list``: merge duplicate customer records, with undo."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

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
from civic.ledger import service
from civic.ledger.parsing import parse_date
from civic.merge.apply import account_numbers, apply_merge, list_merges, undo_merge
from civic.merge.plan import MERGE_FIELDS, MergePlan, make_plan, parse_overrides
from civic.money import format_cents, to_decimal

app = typer.Typer(
    help="Merge a duplicate customer record into the one that stays (preview first), and undo "
    "a merge.",
    no_args_is_help=True,
)

SourceArg = Annotated[
    str, typer.Argument(help="Account number of the duplicate record to make inactive.")
]
IntoOption = Annotated[
    str, typer.Option("--into", help="Account number of the record that stays (the survivor).")
]
TakeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--use-source",
        help=f"Take this field from the source even where the survivor has a value "
        f"(repeatable; one of {', '.join(MERGE_FIELDS)}).",
        show_default=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Set a survivor field outright: FIELD=VALUE (repeatable).", show_default=False
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--orders-from",
        help="Move only orders running on or after this date (seed 003's date range).",
        show_default=False,
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--orders-to",
        help="Move only orders starting on or before this date.",
        show_default=False,
    ),
]


def _money(cents: int) -> str:
    return str(to_decimal(cents))


def plan_dict(plan: MergePlan) -> dict[str, Any]:
    return {
        "source": plan.source_account,
        "survivor": plan.survivor_account,
        "fields": [
            {
                "field": f.field,
                "survivor": f.survivor,
                "source": f.source,
                "result": f.result,
                "origin": f.origin,
            }
            for f in plan.fields
        ],
        "moves": {
            m.entity: {
                "count": len(m.ids),
                "ids": list(m.ids),
                **({"amount": _money(m.amount_cents)} if m.entity == "transaction" else {}),
                **({"stay": list(m.stay)} if m.stay else {}),
                **({"already_on_survivor": list(m.drop)} if m.drop else {}),
            }
            for m in plan.moves
        },
        "balance_before": {k: _money(v) for k, v in plan.balance_before.items()},
        "balance_after": {k: _money(v) for k, v in plan.balance_after.items()},
        "orders_from": plan.orders_from,
        "orders_to": plan.orders_to,
        "refusals": list(plan.refusals),
        "needs_force": list(plan.needs_force),
        "warnings": list(plan.warnings),
    }


def _print_plan(plan: MergePlan) -> None:
    fields = Table(title=f"Merge {plan.source_account} into {plan.survivor_account}")
    for col in ("field", plan.survivor_account, plan.source_account, "result", "from"):
        fields.add_column(col)
    for f in plan.fields:
        if f.survivor in (None, "") and f.source in (None, "") and f.result in (None, ""):
            continue
        style = "bold" if f.result != f.survivor else ""
        fields.add_row(
            f.field,
            str(f.survivor or ""),
            str(f.source or ""),
            str(f.result or ""),
            f.origin,
            style=style,
        )
    console.print(fields)
    moves = Table(title="Linked records that move")
    moves.add_column("records")
    moves.add_column("move", justify="right")
    moves.add_column("note")
    for m in plan.moves:
        note = []
        if m.entity == "transaction" and m.ids:
            note.append(f"amount {format_cents(m.amount_cents)}")
        if m.stay:
            note.append(f"{len(m.stay)} stay (outside the date range)")
        if m.drop:
            note.append(f"{len(m.drop)} already on the survivor")
        moves.add_row(m.label, str(len(m.ids)), ", ".join(note))
    console.print(moves)
    bal = Table(title="Balances")
    bal.add_column("record")
    bal.add_column("before", justify="right")
    bal.add_column("after", justify="right")
    for key, number in (("source", plan.source_account), ("survivor", plan.survivor_account)):
        bal.add_row(
            f"{number} ({key})",
            format_cents(plan.balance_before[key]),
            format_cents(plan.balance_after[key]),
        )
    console.print(bal)
    for w in plan.warnings:
        err_console.print(f"[yellow]note:[/] {w}")
    for r in plan.refusals:
        err_console.print(f"[red]refused:[/] {r}")
    for r in plan.needs_force:
        err_console.print(f"[red]refused unless --force --reason:[/] {r}")


def _customers(session: Any, source: str, into: str, community: str | None) -> tuple[Any, Any]:
    comm = service.get_community(session, community) if community else None
    return (
        service.get_customer(session, source, comm),
        service.get_customer(session, into, comm),
    )


@app.command("preview")
def preview(
    source: SourceArg,
    into: IntoOption,
    use_source: TakeOption = None,
    set_: SetOption = None,
    orders_from: FromOption = None,
    orders_to: ToOption = None,
    community: CommunityOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show what a merge would do — resulting fields, records that move, balances before and
    after, and anything that stops it — without changing anything."""
    with reading(db) as session:
        src, dst = _customers(session, source, into, community)
        plan = make_plan(
            session,
            src,
            dst,
            take_from_source=tuple(use_source or ()),
            set_values=parse_overrides(set_ or []),
            orders_from=parse_date(orders_from, "orders_from") if orders_from else None,
            orders_to=parse_date(orders_to, "orders_to") if orders_to else None,
        )
    if json_out:
        print_json(plan_dict(plan))
        return
    _print_plan(plan)


@app.command("apply")
def apply(
    source: SourceArg,
    into: IntoOption,
    use_source: TakeOption = None,
    set_: SetOption = None,
    orders_from: FromOption = None,
    orders_to: ToOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Merge although the source has active orders (needs --reason)."
        ),
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why the merge is forced; kept in the audit log."),
    ] = None,
    community: CommunityOption = None,
    actor: ActorOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Merge SOURCE into --into in one transaction: move every linked record, make SOURCE
    inactive with a pointer to the survivor, and journal it all for `civic merge undo`."""
    with writing(db) as session:
        src, dst = _customers(session, source, into, community)
        result = apply_merge(
            session,
            src,
            dst,
            actor=actor_name(actor),
            take_from_source=tuple(use_source or ()),
            set_values=parse_overrides(set_ or []),
            orders_from=parse_date(orders_from, "orders_from") if orders_from else None,
            orders_to=parse_date(orders_to, "orders_to") if orders_to else None,
            force=force,
            reason=reason,
        )
    if json_out:
        print_json({"merge_id": result.merge_id, **plan_dict(result.plan)})
        return
    _print_plan(result.plan)
    console.print(
        f"Merged {result.plan.source_account} into {result.plan.survivor_account} "
        f"(merge {result.merge_id}; undo with `civic merge undo {result.merge_id}`)."
    )


@app.command("undo")
def undo(
    merge_id: Annotated[int, typer.Argument(help="The merge to undo (see `civic merge list`).")],
    actor: ActorOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Restore both records and every record the merge moved; activity posted to the survivor
    since stays with it. Refused, with the reasons, where that would contradict a later change."""
    with writing(db) as session:
        result = undo_merge(session, merge_id, actor=actor_name(actor))
    if json_out:
        print_json(
            {
                "merge_id": result.merge_id,
                "source": result.source_account,
                "survivor": result.survivor_account,
                "restored": result.restored,
                "kept_on_survivor": result.kept,
            }
        )
        return
    moved = ", ".join(f"{n} {k}(s)" for k, n in result.restored.items() if n) or "nothing"
    console.print(
        f"Undid merge {result.merge_id}: {result.source_account} restored ({moved} moved back); "
        f"{result.kept.get('transaction', 0)} transaction(s) posted since stay on "
        f"{result.survivor_account}."
    )


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", help="How many of the latest merges.")] = 50,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """List merges, newest first, with who made them and whether they were undone."""
    with reading(db) as session:
        rows = []
        merges = list_merges(session, limit)
        accounts = account_numbers(session, merges)
        for m in merges:
            rows.append(
                {
                    "id": m.id,
                    "source": accounts[m.source_id],
                    "survivor": accounts[m.survivor_id],
                    "at": m.created_at,
                    "by": m.created_by,
                    "forced": m.forced,
                    "reason": m.reason,
                    "undone_at": m.undone_at,
                    "undone_by": m.undone_by,
                }
            )
    if json_out:
        print_json(rows)
        return
    table = Table(title="Merges")
    for col in ("id", "source", "survivor", "at", "by", "undone"):
        table.add_column(col)
    for r in rows:
        undone = f"{r['undone_at']:%Y-%m-%d} by {r['undone_by']}" if r["undone_at"] else ""
        table.add_row(
            str(r["id"]),
            str(r["source"]),
            str(r["survivor"]),
            f"{r['at']:%Y-%m-%d %H:%M}",
            str(r["by"]),
            undone,
        )
    console.print(table)
