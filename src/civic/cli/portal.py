"""``civic portal search | explain | users``: the portal's staff search, "why isn't this
customer in the portal?" from the command line (``civic.portal.store``, ``civic.sync.explain``),
and the portal web app's staff users (``civic.portal.store.users``)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from civic.cli.common import open_engine
from civic.cli.output import console, print_json
from civic.cli.sync import FeedUrlOption, LedgerOption, PortalOption, TokenOption, open_portal
from civic.db import read_only, transaction
from civic.errors import InvalidInput
from civic.money import format_cents
from civic.portal.store import users as portal_users
from civic.portal.store.search import search as run_search
from civic.portal.store.tables import PortalCustomer
from civic.sync.explain import ApiLookup
from civic.sync.explain import explain as run_explain
from civic.sync.feeds import HttpFeed

app = typer.Typer(
    help="Search the portal store as staff do, and explain why a customer is not shown.",
    no_args_is_help=True,
)

CommunitiesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--community",
        "-c",
        help="Only these communities (repeat for several), as a staff user of them sees it. "
        "Default: every community.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _communities(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip().upper() for v in values if v.strip()]


@app.command("search")
def search(
    query: Annotated[
        str,
        typer.Argument(
            help="A name or part of one, an account number in any spelling (1234, 001234-01, "
            "00123401), a service address fragment or a phone number.",
            show_default=False,
        ),
    ],
    community: CommunitiesOption = None,
    hidden: Annotated[
        bool,
        typer.Option(
            "--hidden",
            help="Include records residents cannot see (ineligible or merged away), with why.",
        ),
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="How many results.")] = 10,
    portal: PortalOption = None,
    json_out: JsonOption = False,
) -> None:
    """Find customers in the portal store, best first, tolerant of typos and punctuation."""
    if not query.strip():
        raise InvalidInput("give a search query")
    engine = open_portal(portal)
    try:
        with read_only(engine) as s:
            hits = run_search(
                s, query, communities=_communities(community), visible_only=not hidden, limit=limit
            )
            balances = {
                h.customer_id: (row.balance_cents, row.payment_status)
                for h in hits
                if (row := s.get(PortalCustomer, h.customer_id)) is not None
            }
    finally:
        engine.dispose()
    if json_out:
        print_json(
            [
                {
                    **asdict(h),
                    "balance": format_cents(balances[h.customer_id][0]),
                    "payment_status": balances[h.customer_id][1],
                }
                for h in hits
            ]
        )
        return
    if not hits:
        console.print(
            f"No customer found for {query!r}. `civic portal explain {query!r}` says why."
        )
        return
    table = Table("account", "community", "name", "service address", "balance", "score", "note")
    for h in hits:
        note = h.via or (h.ineligible_reason or ("merged" if h.merged_into_account else ""))
        table.add_row(
            h.account_number,
            h.community,
            h.display_name,
            h.service_address or "",
            format_cents(balances[h.customer_id][0]),
            f"{h.score:.0f}",
            note,
        )
    console.print(table)


@app.command("explain")
def explain(
    query: Annotated[
        str,
        typer.Argument(
            help="What was searched for (a name, account number, ...).", show_default=False
        ),
    ],
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="The account number of the customer that was expected (default: the best "
            "match of the query).",
            show_default=False,
        ),
    ] = None,
    community: CommunitiesOption = None,
    ledger: LedgerOption = None,
    feed_url: FeedUrlOption = None,
    token: TokenOption = None,
    portal: PortalOption = None,
    json_out: JsonOption = False,
) -> None:
    """Why isn't this customer in the portal? Not in the ledger; not synced yet; not eligible
    (which rule); another community; merged (into which); or found only by a looser query."""
    if not query.strip():
        raise InvalidInput("give what was searched for")
    portal_engine = open_portal(portal)
    try:
        if feed_url:
            if not token:
                raise InvalidInput("--feed-url needs --token (scope customers:read)")
            feed = HttpFeed(feed_url, token)
            try:
                with read_only(portal_engine) as ps:
                    answer = run_explain(
                        ApiLookup(feed), ps, query, communities=_communities(community),
                        account=account,
                    )  # fmt: skip
            finally:
                feed.close()
        else:
            ledger_engine = open_engine(ledger)
            try:
                with read_only(ledger_engine) as ls, read_only(portal_engine) as ps:
                    answer = run_explain(
                        ls, ps, query, communities=_communities(community), account=account
                    )
            finally:
                ledger_engine.dispose()
    finally:
        portal_engine.dispose()
    if json_out:
        print_json(asdict(answer))
        return
    from rich.text import Text

    console.print(Text.assemble((answer.verdict, "bold"), ": ", answer.message))


# -- portal users ---------------------------------------------------------------------------

users_app = typer.Typer(
    help="Staff users of the portal web app (residents register themselves on the portal).",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Sign-in name (lower case).")],
    community: Annotated[
        list[str],
        typer.Option("--community", "-c", help="A community this person may see (repeatable)."),
    ],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="support (names and balances) or clerk (also history and alert messages).",
        ),
    ] = "support",  # fmt: skip
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input instead of asking."
        ),
    ] = False,
    portal: PortalOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a staff user of the portal; the password is asked for (or read from stdin) and
    stored hashed (argon2)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise InvalidInput("password: empty", field="password")
    engine = open_portal(portal)
    try:
        with transaction(engine) as s:
            user = portal_users.add_staff_user(
                s, username, password, role=role, communities=community
            )
    finally:
        engine.dispose()
    if json_out:
        print_json({"id": user.id, "username": user.login, "role": user.role,
                    "communities": list(user.communities)})  # fmt: skip
        return
    console.print(f"Added portal {user.role} {user.login} ({', '.join(user.communities)}).")


@users_app.command("list")
def users_list(
    role: Annotated[
        str | None,
        typer.Option(
            "--role", help="Only this role: resident, support or clerk.", show_default=False
        ),
    ] = None,  # fmt: skip
    portal: PortalOption = None,
    json_out: JsonOption = False,
) -> None:
    """List enabled portal users (staff and residents) with their role and communities."""
    engine = open_portal(portal)
    try:
        with read_only(engine) as s:
            found = portal_users.list_users(s, role)
    finally:
        engine.dispose()
    if json_out:
        print_json([{"username": u.login, "role": u.role, "communities": list(u.communities)}
                    for u in found])  # fmt: skip
        return
    table = Table("username", "role", "communities", title="Portal users")
    for u in found:
        table.add_row(u.login, u.role, ", ".join(u.communities))
    console.print(table)


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="The sign-in name to disable.")],
    portal: PortalOption = None,
) -> None:
    """Disable a portal user: their sessions stop working at the next page."""
    engine = open_portal(portal)
    try:
        with transaction(engine) as s:
            portal_users.disable_user(s, username)
    finally:
        engine.dispose()
    console.print(f"Disabled portal user {username}.")


@app.command("bill")
def bill(
    account: Annotated[
        str | None,
        typer.Argument(
            help="Account number (any format). Without it: an example account a resident of "
            "the demo could register.",
            show_default=False,
        ),
    ] = None,
    portal: PortalOption = None,
    json_out: JsonOption = False,
) -> None:
    """What a resident needs to register an account: its number, the last name (or business
    name) and the last bill amount, as the portal knows them — for support staff helping
    someone register."""
    from sqlalchemy import select

    from civic.portal.store.normalize import number_query

    engine = open_portal(portal)
    try:
        with read_only(engine) as s:
            stmt = select(PortalCustomer).where(PortalCustomer.visible.is_(True))
            if account is not None:
                spelled = number_query(account)
                if spelled is None or spelled.account is None:
                    raise InvalidInput(f"{account!r} is not an account number", field="account")
                stmt = select(PortalCustomer).where(
                    PortalCustomer.account_number == spelled.account
                )
            found = None
            for customer in s.scalars(stmt.order_by(PortalCustomer.id).limit(200)):
                last = portal_users.last_bill(s, customer.id)
                if last is not None or account is not None:
                    found = (customer, last)
                    break
    finally:
        engine.dispose()
    if found is None:
        raise InvalidInput(f"no account {account} in the portal" if account else "no bills yet")
    customer, last = found
    facts = {
        "account_number": customer.account_number,
        "community": customer.community,
        "name": customer.last_name or customer.business_name,
        "last_bill_period": last.period_end if last else None,
        "last_bill": format_cents(last.amount) if last else None,
        "visible_to_residents": customer.visible,
    }
    if json_out:
        print_json(facts)
        return
    bill_text = (
        f"{facts['last_bill']} (period ending {facts['last_bill_period']})" if last else "none"
    )
    console.print(
        f"Account {facts['account_number']} ({facts['community']}): name {facts['name']}, "
        f"last bill {bill_text}" + ("" if customer.visible else "; not shown to residents")
    )
