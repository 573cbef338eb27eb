"""``civic customers add | show | list | update | close``."""

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
from civic.cli.output import console, print_json
from civic.errors import InvalidInput
from civic.ledger import service
from civic.ledger.types import CUSTOMER_FIELDS, EDITABLE_FIELDS, CustomerView
from civic.money import format_cents, to_decimal

app = typer.Typer(help="Customer accounts: add, show, list, update, close.", no_args_is_help=True)

AccountArg = Annotated[str, typer.Argument(help="Account number, e.g. 001234-01.")]


def _opt(help_text: str) -> Any:
    return typer.Option(help=help_text, show_default=False)


def _parse_pairs(pairs: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{what}: {pair!r} is not NAME=VALUE")
        out.append((key.strip(), value))
    return out


def _view_dict(view: CustomerView, balance: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": view.id,
        "community": view.community,
        **{f: getattr(view, f) for f in CUSTOMER_FIELDS},
        "collection_code": view.collection_code,
        "master_account": view.master_account,
        "merged_into": view.merged_into,
        "version": view.version,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "refs": [{"type": r.ref_type, "value": r.value} for r in view.refs],
        "alerts": list(view.alerts),
    }
    if balance is not None:
        data["balance"] = str(to_decimal(balance))
    return data


@app.command("add")
def add(
    account: AccountArg,
    first_name: Annotated[str | None, _opt("First name.")] = None,
    middle_name: Annotated[str | None, _opt("Middle name or initial.")] = None,
    last_name: Annotated[str | None, _opt("Last name (or give --business-name).")] = None,
    suffix: Annotated[str | None, _opt("Suffix: Jr, Sr, III, ...")] = None,
    business_name: Annotated[str | None, _opt("Business name, for a non-person account.")] = None,
    service_address: Annotated[str | None, _opt("Address where service is delivered.")] = None,
    mailing_address: Annotated[str | None, _opt("Mailing address, if different.")] = None,
    city: Annotated[str | None, _opt("City.")] = None,
    state: Annotated[str | None, _opt("Two-letter state.")] = None,
    zip_code: Annotated[
        str | None, typer.Option("--zip", help="ZIP or ZIP+4.", show_default=False)
    ] = None,
    phone: Annotated[str | None, _opt("Phone number.")] = None,
    email: Annotated[str | None, _opt("E-mail address.")] = None,
    status: Annotated[str, typer.Option(help="active, inactive or closed.")] = "active",
    online_access: Annotated[
        bool,
        typer.Option(
            "--online-access/--no-online-access", help="May this account be shown in the portal?"
        ),
    ] = True,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref",
            help="External reference TYPE=VALUE (repeatable), e.g. ssr=SSR123.",
            show_default=False,
        ),
    ] = None,
    master: Annotated[str | None, _opt("Consolidated-billing master account number.")] = None,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a customer account."""
    values: dict[str, Any] = {
        "first_name": first_name,
        "middle_name": middle_name,
        "last_name": last_name,
        "suffix": suffix,
        "business_name": business_name,
        "service_address": service_address,
        "mailing_address": mailing_address,
        "city": city,
        "state": state,
        "zip": zip_code,
        "phone": phone,
        "email": email,
        "status": status,
        "online_access": online_access,
    }
    if master:
        values["master_account"] = master
    refs = _parse_pairs(ref or [], "--ref")
    with writing(db) as session:
        comm = service.get_community(session, community)
        customer = service.add_customer(
            session, comm, account, values, actor=actor_name(actor), refs=refs
        )
        view = service.to_view(session, customer)
    if json_out:
        print_json(_view_dict(view))
    else:
        console.print(f"Added {view.account_number} {view.display_name}.")


@app.command("show")
def show(
    account: AccountArg,
    community: CommunityOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show one customer: fields, references, alerts, balance and recent transactions."""
    with reading(db) as session:
        comm = service.get_community(session, community) if community else None
        customer = service.get_customer(session, account, comm)
        view = service.to_view(session, customer)
        balance = service.total_balance(session, customer.id)
        recent = service.history(session, customer, limit=10)
    if json_out:
        data = _view_dict(view, balance)
        data["recent_transactions"] = [
            {
                "id": t.id,
                "date": t.txn_date,
                "kind": t.kind,
                "service": t.service,
                "period_end": t.period_end,
                "amount": str(to_decimal(t.amount)),
                "reference": t.reference,
                "description": t.description,
            }
            for t in recent
        ]
        print_json(data)
        return
    table = Table(show_header=False, title=f"{view.account_number}  {view.display_name}")
    table.add_column("field", style="bold")
    table.add_column("value")
    for field in CUSTOMER_FIELDS[1:]:
        value = getattr(view, field)
        if value not in (None, ""):
            table.add_row(field, str(value))
    for extra in ("collection_code", "master_account", "merged_into"):
        if getattr(view, extra):
            table.add_row(extra, str(getattr(view, extra)))
    for ref in view.refs:
        table.add_row(f"ref:{ref.ref_type}", ref.value)
    for a in view.alerts:
        table.add_row("alert", a)
    table.add_row("version", str(view.version))
    table.add_row("balance", format_cents(balance))
    console.print(table)
    if recent:
        t = Table(title="Recent transactions")
        for col in ("Id", "Date", "Kind", "Service", "Period", "Amount", "Reference"):
            t.add_column(col, justify="right" if col in ("Id", "Amount") else "left")
        for r in recent:
            t.add_row(
                str(r.id),
                r.txn_date.isoformat(),
                r.kind,
                r.service,
                r.period_end.isoformat(),
                format_cents(r.amount),
                r.reference or "",
            )
        console.print(t)


@app.command("list")
def list_(
    name: Annotated[
        str | None, _opt("Only names containing this text (first, last, business).")
    ] = None,
    status: Annotated[str | None, _opt("Only this status: active, inactive or closed.")] = None,
    where: Annotated[
        str | None,
        _opt(
            'Selection criteria, e.g. "status = active and balance > 100" (see docs/selection.md).'
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    offset: Annotated[int, typer.Option(help="Skip this many rows first.")] = 0,
    community: CommunityOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """List customers, by account number."""
    with reading(db) as session:
        comm = service.get_community(session, community) if community else None
        rows, total = service.list_customers(
            session,
            community=comm,
            name=name,
            status=status,
            where=where,
            limit=limit,
            offset=offset,
        )
        views = [service.to_view(session, c) for c in rows]
    if json_out:
        print_json({"total": total, "offset": offset, "customers": [_view_dict(v) for v in views]})
        return
    table = Table(
        title=f"{total} customers" + (f" (showing {len(views)})" if total > len(views) else "")
    )
    for col in ("Account", "Name", "Service address", "Status", "Online"):
        table.add_column(col)
    for v in views:
        table.add_row(
            v.account_number,
            v.display_name,
            v.service_address or "",
            v.status,
            "yes" if v.online_access else "no",
        )
    console.print(table)


@app.command("update")
def update(
    account: AccountArg,
    set_: Annotated[
        list[str],
        typer.Option(
            "--set",
            help="FIELD=VALUE to change (repeatable). Fields: "
            + ", ".join(EDITABLE_FIELDS)
            + ". An empty VALUE clears the field.",
        ),
    ],
    expect_version: Annotated[
        int | None,
        typer.Option(
            "--expect-version",
            help="Refuse if the account's version is no longer this one (someone else changed it).",
            show_default=False,
        ),
    ] = None,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref",
            help="Also add an external reference TYPE=VALUE (repeatable).",
            show_default=False,
        ),
    ] = None,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change fields of a customer; the change is audited with old and new values."""
    changes = dict(_parse_pairs(set_, "--set"))
    for key in changes:
        if key not in EDITABLE_FIELDS:
            raise InvalidInput(
                f"--set: {key!r} is not an editable field ({', '.join(EDITABLE_FIELDS)})"
            )
    who = actor_name(actor)
    with writing(db) as session:
        comm = service.get_community(session, community) if community else None
        customer = service.get_customer(session, account, comm)
        diff = service.update_customer(
            session, customer, changes, actor=who, expected_version=expect_version
        )
        for ref_type, value in _parse_pairs(ref or [], "--ref"):
            if service.add_ref(session, customer, ref_type, value, actor=who):
                diff[f"ref:{ref_type}"] = [None, value]
        version = customer.version
    if json_out:
        print_json({"account_number": customer.account_number, "changes": diff, "version": version})
        return
    if not diff:
        console.print("Nothing changed.")
    for field, (old, new) in diff.items():
        console.print(f"{field}: {old!r} -> {new!r}")


@app.command("close")
def close(
    account: AccountArg,
    expect_version: Annotated[
        int | None,
        typer.Option(
            "--expect-version",
            help="Refuse if the account changed since this version.",
            show_default=False,
        ),
    ] = None,
    community: CommunityOption = None,
    db: DbOption = None,
    actor: ActorOption = None,
) -> None:
    """Close a customer account (its history stays; no new charges can be posted)."""
    with writing(db) as session:
        comm = service.get_community(session, community) if community else None
        customer = service.get_customer(session, account, comm)
        service.close_customer(
            session, customer, actor=actor_name(actor), expected_version=expect_version
        )
    console.print(f"Closed {customer.account_number}.")
