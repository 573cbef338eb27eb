"""Staff pages: search within one's communities, "why isn't this customer in the portal?", and
the sync's status. Support and clerks alike; what an account page shows depends on the role."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from civic.db import read_only
from civic.portal.store import search as store_search
from civic.portal.store import state as store_state
from civic.portal.store.tables import PortalCustomer
from civic.portal.web.auth import Staff, engine
from civic.portal.web.render import render

router = APIRouter(prefix="/staff", include_in_schema=False)
RESULTS = 20


class Explanation(Protocol):
    """What an explain callable answers (``civic.sync.explain.Explanation`` fits)."""

    @property
    def verdict(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def account_number(self) -> str | None: ...
    @property
    def community(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...


ExplainFn = Callable[[Session, str, Sequence[str], str | None], Explanation]
"""(portal session, query, the asker's communities, expected account number or None)."""


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, user: Staff, q: str = "", hidden: bool = False) -> HTMLResponse:
    rows: list[dict[str, Any]] = []
    query = q.strip()[:200]
    if query:
        with read_only(engine(request)) as session:
            hits = store_search.search(
                session,
                query,
                communities=list(user.communities),
                visible_only=not hidden,
                limit=RESULTS,
            )
            for h in hits:
                row = session.get(PortalCustomer, h.customer_id)
                if row is None or row.community not in user.communities:
                    continue
                rows.append({"hit": h, "balance": row.balance_cents, "status": row.payment_status})
    return render(request, "search.html", user=user, q=query, hidden=hidden, rows=rows)


@router.get("/explain", response_class=HTMLResponse)
def explain_page(request: Request, user: Staff, q: str = "", account: str = "") -> HTMLResponse:
    explain: ExplainFn | None = request.app.state.explain
    query, expected = q.strip()[:200], account.strip()[:20]
    answer: dict[str, Any] | None = None
    if query and explain is not None:
        with read_only(engine(request)) as session:
            found = explain(session, query, list(user.communities), expected or None)
        answer = _visible_answer(found, user.communities)
    return render(
        request,
        "explain.html",
        user=user,
        q=query,
        account=expected,
        answer=answer,
        available=explain is not None,
    )


def _visible_answer(found: Explanation, communities: Sequence[str]) -> dict[str, Any]:
    """The answer as the asker may see it: a record of another community is named only by its
    community, never by its name or account number."""
    if found.community is not None and found.community not in communities:
        return {
            "verdict": "other_community",
            "message": f"The closest match belongs to community {found.community}, which is "
            f"not among yours ({', '.join(communities)}): staff of {found.community} can "
            "look it up.",
            "link": None,
            "looser": None,
        }
    link = None
    if found.account_number and found.community and found.verdict != "not_in_ledger":
        target = found.detail.get("merged_into") or found.account_number
        link = f"/accounts/{found.community}/{target}"
    looser = found.detail.get("looser_query")
    return {"verdict": found.verdict, "message": found.message, "link": link, "looser": looser}


@router.get("/sync", response_class=HTMLResponse)
def sync_page(request: Request, user: Staff) -> HTMLResponse:
    with read_only(engine(request)) as session:
        status = store_state.status(session)
    now = datetime.now(UTC)
    age = (now - status.last_success_at).total_seconds() if status.last_success_at else None
    return render(request, "sync.html", user=user, status=status, now=now, age=age)
