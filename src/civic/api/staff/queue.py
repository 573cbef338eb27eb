"""The review queue in the staff pages: suspected duplicates side by side, the evidence as a
waterfall of match weights, accept / reject, and merge (through the merge preview)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from civic.api.staff.auth import CsrfChecked, Staff
from civic.api.staff.pages import _engine, render
from civic.db import read_only, transaction
from civic.errors import NotFound
from civic.ledger import service
from civic.ledger.staff import StaffView
from civic.ledger.tables import Community, Customer
from civic.matching.service import PairView, count_pairs, decide, get_pair, list_pairs

router = APIRouter(prefix="/staff", include_in_schema=False)
PAGE_SIZE = 50


@dataclass(frozen=True)
class Bar:
    """One step of the waterfall chart, in chart units (SVG user space)."""

    label: str
    detail: str
    weight: float
    x: float
    width: float
    y: int
    kind: str  # prior, plus, minus, total


def waterfall(evidence: list[dict[str, Any]], total: float, width: int = 560) -> dict[str, Any]:
    """Bars for a waterfall of match weights: the prior, each comparison's weight (added in
    turn), and the total. The prior is what the total holds beyond the comparisons."""
    steps = [(e["comparison"], e.get("label", ""), float(e["match_weight"])) for e in evidence]
    prior = total - sum(w for _, _, w in steps)
    # (label, detail, weight, kind, start, end) in weight units
    spans = [("prior", "before any comparison", prior, "prior", 0.0, prior)]
    level = prior
    for label, detail, w in steps:
        spans.append((label, detail, w, "plus" if w >= 0 else "minus", level, level + w))
        level += w
    spans.append(("total", "match weight", total, "total", 0.0, total))
    ends = [v for span in spans for v in span[4:]]
    lo, hi = min(*ends, 0.0), max(*ends, 0.0)
    scale = (width - 20) / ((hi - lo) or 1.0)

    def x(value: float) -> float:
        return 10 + (value - lo) * scale

    bars = [
        Bar(
            label=label,
            detail=detail,
            weight=w,
            x=round(x(min(a, b)), 1),
            width=round(max(abs(x(b) - x(a)), 1.5), 1),
            y=row * 26,
            kind=kind,
        )
        for row, (label, detail, w, kind, a, b) in enumerate(spans)
    ]
    return {"bars": bars, "zero": round(x(0.0), 1), "height": len(bars) * 26, "width": width}


def _community_ids(session: Session, user: StaffView) -> dict[int, str]:
    rows = session.query(Community.id, Community.code).filter(Community.code.in_(user.communities))
    return {int(i): str(code) for i, code in rows}


def _visible_pair(session: Session, user: StaffView, pair_id: int) -> PairView:
    pair = get_pair(session, pair_id)
    left = session.get(Customer, pair.left.id)
    if left is None or left.community_id not in _community_ids(session, user):
        raise NotFound(f"no suggested pair {pair_id}", pair=pair_id)
    return pair


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    user: Staff,
    tier: str = "merge",
    status: str = "pending",
    page: int = 1,
) -> HTMLResponse:
    page = max(page, 1)
    communities = list(user.communities)
    with read_only(_engine(request)) as session:
        total = count_pairs(
            session, tier=tier or None, status=status or None, communities=communities
        )
        shown = list_pairs(
            session,
            tier=tier or None,
            status=status or None,
            communities=communities,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    return render(
        request,
        "queue.html",
        user=user,
        pairs=shown,
        total=total,
        tier=tier,
        status=status,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


def _survivor_first(pair: PairView) -> tuple[str, str]:
    """(survivor, source) account numbers: keep the active record, else the older one."""
    left, right = pair.left, pair.right
    if left.status != "active" and right.status == "active":
        return right.account_number, left.account_number
    return left.account_number, right.account_number


@router.get("/pairs/{pair_id}", response_class=HTMLResponse)
def pair_page(request: Request, user: Staff, pair_id: int) -> HTMLResponse:
    with read_only(_engine(request)) as session:
        pair = _visible_pair(session, user, pair_id)
        left = service.to_view(session, service.get_customer_by_id(session, pair.left.id))
        right = service.to_view(session, service.get_customer_by_id(session, pair.right.id))
    survivor, source = _survivor_first(pair)
    return render(
        request,
        "pair.html",
        user=user,
        pair=pair,
        left=left,
        right=right,
        chart=waterfall(pair.evidence, pair.match_weight),
        survivor=survivor,
        source=source,
    )


@router.post("/pairs/{pair_id}/decide", dependencies=[CsrfChecked])
def pair_decide(
    request: Request, user: Staff, pair_id: int, decision: Annotated[str, Form()]
) -> Response:
    with transaction(_engine(request)) as session:
        _visible_pair(session, user, pair_id)
        decide(session, pair_id, decision, actor=user.username)
    return RedirectResponse(f"/staff/pairs/{pair_id}", status_code=303)
