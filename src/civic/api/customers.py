"""``/api/v1/customers``: one customer (by id or account number), a filtered page of them, a
customer's aged balances and transaction history. Read-only; scope ``customers:read``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from civic.api.deps import CustomersReader, SessionDep
from civic.api.errors import ERROR_RESPONSES, ErrorOut
from civic.api.schemas import BalanceOut, CustomerOut, CustomerPage, TransactionOut, TransactionPage
from civic.ledger import service
from civic.ledger.tables import STATUSES

MAX_LIMIT = 500
"""The largest page a client may ask for."""
MAX_ID = 2**63 - 1

router = APIRouter(
    prefix="/customers",
    tags=["customers"],
    responses={
        **ERROR_RESPONSES,
        404: {"model": ErrorOut, "description": "No such customer (or community)."},
    },
)

CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="The customer's id.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip first.")]
Community = Annotated[
    str | None,
    Query(max_length=20, description="Community code; needed only when several hold a number."),
]


def next_link(request: Request, next_offset: int | None) -> str | None:
    """Path and query of the next page (same filters, the next offset), or None."""
    if next_offset is None:
        return None
    url = request.url.include_query_params(offset=next_offset)
    return f"{url.path}?{url.query}"


@router.get("", summary="List customers", response_model=CustomerPage)
def list_customers(
    request: Request,
    session: SessionDep,
    _token: CustomersReader,
    name: Annotated[
        str | None,
        Query(max_length=120, description="Text in the first, last or business name."),
    ] = None,
    status: Annotated[
        str | None, Query(description=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    community: Community = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CustomerPage:
    """Customers ordered by community and account number, filtered, one page at a time."""
    comm = service.get_community(session, community) if community else None
    rows, total = service.list_customers(
        session, community=comm, name=name, status=status, limit=limit, offset=offset
    )
    customers = [CustomerOut.from_view(service.to_view(session, c)) for c in rows]
    following = offset + len(rows)
    next_offset = following if rows and following < total else None
    return CustomerPage(
        total=total,
        limit=limit,
        offset=offset,
        next_offset=next_offset,
        next=next_link(request, next_offset),
        customers=customers,
    )


@router.get("/by-account/{account}", summary="Find a customer by account number")
def customer_by_account(
    session: SessionDep,
    _token: CustomersReader,
    account: Annotated[
        str, Path(max_length=20, description="001234-01, 1234-1 or 00123401 are all accepted.")
    ],
    community: Community = None,
) -> CustomerOut:
    """The customer holding an account number, in any of its accepted spellings."""
    comm = service.get_community(session, community) if community else None
    customer = service.get_customer(session, account, comm)
    return CustomerOut.from_view(service.to_view(session, customer))


@router.get("/{customer_id}", summary="Get a customer")
def customer(session: SessionDep, _token: CustomersReader, customer_id: CustomerId) -> CustomerOut:
    """One customer, with external references and alert messages."""
    found = service.get_customer_by_id(session, customer_id)
    return CustomerOut.from_view(service.to_view(session, found))


@router.get("/{customer_id}/balances", summary="A customer's balances")
def balances(
    session: SessionDep,
    _token: CustomersReader,
    customer_id: CustomerId,
    as_of: Annotated[
        date | None, Query(description="Balances as of this date (YYYY-MM-DD), e.g. a cut-off.")
    ] = None,
) -> BalanceOut:
    """Balance per service and billing period, aged (credits pay the oldest period first),
    and the total."""
    found = service.get_customer_by_id(session, customer_id)
    return BalanceOut.from_report(found.id, service.balance_report(session, found, as_of=as_of))


@router.get("/{customer_id}/transactions", summary="A customer's transactions")
def transactions(
    request: Request,
    session: SessionDep,
    _token: CustomersReader,
    customer_id: CustomerId,
    since: Annotated[
        date | None, Query(description="Only transactions dated on or after (YYYY-MM-DD).")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> TransactionPage:
    """The customer's ledger rows, newest first, one page at a time."""
    found = service.get_customer_by_id(session, customer_id)
    rows = service.history(session, found, since=since, limit=limit + 1, offset=offset)
    next_offset = offset + limit if len(rows) > limit else None
    return TransactionPage(
        customer_id=found.id,
        account_number=found.account_number,
        limit=limit,
        offset=offset,
        next_offset=next_offset,
        next=next_link(request, next_offset),
        transactions=[TransactionOut.from_view(t) for t in rows[:limit]],
    )
