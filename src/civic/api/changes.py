"""``/api/v1/changes``: the ledger's change feed read after a cursor (scope ``changes:read``).

A reader keeps the last ``seq`` it applied and asks for what came after; sequence numbers become
visible in the order issued (see ``civic.ledger.outbox``), so a reader never skips one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from civic.api.deps import ChangesReader, SessionDep
from civic.api.errors import ERROR_RESPONSES
from civic.api.schemas import ChangeOut, ChangesPage
from civic.ledger import outbox

MAX_LIMIT = 1000
"""The most changes one request returns."""

router = APIRouter(prefix="/changes", tags=["changes"], responses=ERROR_RESPONSES)


@router.get("", summary="Read the change feed")
def changes(
    session: SessionDep,
    _token: ChangesReader,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Return changes with a seq above this.")
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"At most this many, 1 to {MAX_LIMIT}.")
    ] = 100,
) -> ChangesPage:
    """Changes after the cursor, oldest first, with the next cursor and the newest seq."""
    page = outbox.read_changes(session, after=after, limit=limit)
    # Read the newest seq after the page, so it is never below a seq the page holds.
    latest = outbox.last_seq(session)
    next_after = page[-1].seq if page else after
    return ChangesPage(
        after=after,
        limit=limit,
        changes=[ChangeOut.from_view(c) for c in page],
        next_after=next_after,
        latest_seq=latest,
        caught_up=next_after >= latest,
    )
