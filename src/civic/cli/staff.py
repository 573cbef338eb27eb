"""``civic staff add | list | disable``: staff accounts for the ledger's web pages."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from civic.cli.common import ActorOption, DbOption, JsonOption, actor_name, reading, writing
from civic.cli.output import console, print_json
from civic.errors import InvalidInput
from civic.ledger.staff import add_staff, disable_staff, list_staff

app = typer.Typer(
    help="Staff accounts that sign in to the ledger's web pages (review queue, merges).",
    no_args_is_help=True,
)


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name (lower case).")],
    community: Annotated[
        list[str],
        typer.Option("--community", "-c", help="A community this person may see (repeatable)."),
    ],
    role: Annotated[
        str,
        typer.Option(
            "--role", help="clerk (review and merge) or supervisor (also force and undo)."
        ),
    ] = "clerk",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input instead of asking."
        ),
    ] = False,
    actor: ActorOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a staff account; the password is asked for (or read from stdin) and stored hashed."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise InvalidInput("password: empty", field="password")
    with writing(db) as session:
        user = add_staff(
            session,
            username,
            password,
            role=role,
            communities=community,
            actor=actor_name(actor),
        )
    if json_out:
        print_json({"id": user.id, "username": user.username, "role": user.role,
                    "communities": list(user.communities)})  # fmt: skip
        return
    console.print(f"Added staff user {user.username} ({user.role}; {', '.join(user.communities)}).")


@app.command("list")
def list_(db: DbOption = None, json_out: JsonOption = False) -> None:
    """List enabled staff accounts with their role and communities."""
    with reading(db) as session:
        users = list_staff(session)
    if json_out:
        print_json([
            {"username": u.username, "role": u.role, "communities": list(u.communities)}
            for u in users
        ])  # fmt: skip
        return
    table = Table(title="Staff")
    for col in ("username", "role", "communities"):
        table.add_column(col)
    for u in users:
        table.add_row(u.username, u.role, ", ".join(u.communities))
    console.print(table)


@app.command("disable")
def disable(
    username: Annotated[str, typer.Argument(help="The account to disable.")],
    actor: ActorOption = None,
    db: DbOption = None,
) -> None:
    """Disable a staff account: its sessions stop working at the next page."""
    with writing(db) as session:
        disable_staff(session, username, actor=actor_name(actor))
    console.print(f"Disabled staff user {username}.")
