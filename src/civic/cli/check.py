"""``civic check``: the integrity check report; exit status 1 when it finds problems."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from civic.checks.registry import CHECKS, run_checks
from civic.cli.common import DbOption, JsonOption, reading
from civic.cli.output import console, err_console, print_json
from civic.errors import InvalidInput


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Run only this check (repeatable): "
            + ", ".join(name for name, _, _ in CHECKS)
            + ".",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """List every integrity problem with the ids involved and a suggested fix (exit 1 if any)."""
    known = {name for name, _, _ in CHECKS}
    for name in only or []:
        if name not in known:
            raise InvalidInput(f"--only: no check {name!r} (checks: {', '.join(sorted(known))})")
    with reading(db) as session, err_console.status("Checking the ledger..."):
        problems = list(run_checks(session, only))
    if json_out:
        print_json(
            {
                "problems": [
                    {"check": p.source, "message": p.message, "subject": p.subject, "fix": p.fix}
                    for p in problems
                ]
            }
        )
    elif problems:
        table = Table(title=f"{len(problems)} problems", show_lines=True)
        for col in ("Check", "Problem", "Suggested fix"):
            table.add_column(col)
        for p in problems:
            table.add_row(p.source, p.message, p.fix)
        console.print(table)
    else:
        ran = only or sorted(known)
        console.print(f"No problems found ({len(ran)} checks: {', '.join(ran)}).")
    if problems:
        raise typer.Exit(1)
