"""``civic tokens create | list | revoke``: bearer tokens for the ledger API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from civic.cli.common import DbOption, JsonOption, reading, writing
from civic.cli.output import console, print_json
from civic.ledger import tokens
from civic.ledger.tokens import TokenView

app = typer.Typer(
    help="API tokens for `civic serve api`: create, list, revoke. Only a hash is stored; "
    "the token itself is shown once, when it is created.",
    no_args_is_help=True,
)


def _token_dict(view: TokenView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "prefix": view.prefix,
        "scopes": list(view.scopes),
        "created_at": view.created_at,
        "last_used_at": view.last_used_at,
        "revoked_at": view.revoked_at,
        "active": view.active,
    }


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who or what will use the token, e.g. portal-sync.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            "-s",
            help=f"A scope to grant (repeatable): {', '.join(tokens.SCOPES)}.",
            show_default=False,
        ),
    ],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create a token. It is printed once and cannot be shown again: store it now."""
    with writing(db) as session:
        plaintext, row = tokens.create(session, name, scope)
        view = tokens.to_view(row)
    if json_out:
        print_json({**_token_dict(view), "token": plaintext})
        return
    console.print(
        Text(f"Created API token {view.id} ({view.name}) with scopes {', '.join(view.scopes)}.")
    )
    console.print(
        Text("Copy the token now: it is not stored and cannot be shown again.", style="bold")
    )
    console.print(Text(plaintext))


@app.command("list")
def list_(
    active: Annotated[bool, typer.Option("--active", help="Leave out revoked tokens.")] = False,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """List tokens (never the tokens themselves: their prefix, scopes and use)."""
    with reading(db) as session:
        views = tokens.list_tokens(session, include_revoked=not active)
    if json_out:
        print_json([_token_dict(v) for v in views])
        return
    table = Table(title=f"{len(views)} API tokens")
    for col in ("Id", "Name", "Prefix", "Scopes", "Created", "Last used", "Revoked"):
        table.add_column(col, justify="right" if col == "Id" else "left")
    for v in views:
        table.add_row(
            str(v.id),
            Text(v.name),
            v.prefix,
            " ".join(v.scopes),
            _when(v.created_at),
            _when(v.last_used_at),
            _when(v.revoked_at),
        )
    console.print(table)


@app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id, as `civic tokens list` shows.")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Revoke a token for good: requests with it are refused from now on."""
    with writing(db) as session:
        view = tokens.revoke(session, token_id)
    if json_out:
        print_json(_token_dict(view))
        return
    console.print(Text(f"Revoked API token {view.id} ({view.name}, {view.prefix})."))
