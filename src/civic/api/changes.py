"""``/api/v1/changes``: the ledger's change feed read after a cursor (scope ``changes:read``).

A reader keeps the last ``seq`` it applied and asks for what came after; sequence numbers become
visible in the order issued (see ``civic.ledger.outbox``), so a reader never skips one.
``/api/v1/changes/communities`` gives a feed reader the communities and their services with
the service-level ``portal_eligible`` flag (what the portal sync needs to judge eligibility
the way it does when it reads the ledger database directly).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from civic.api.deps import ChangesReader, SessionDep
from civic.api.errors import ERROR_RESPONSES
from civic.api.schemas import ChangeOut, ChangesPage
from civic.ledger import outbox
from civic.ledger.tables import Community, Service

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


class FeedServiceOut(BaseModel):
    code: str
    name: str
    portal_eligible: bool = Field(
        description="Whether this service's charges and balance make a customer eligible for "
        "the resident portal."
    )


class FeedCommunityOut(BaseModel):
    code: str
    name: str
    services: list[FeedServiceOut] = Field(description="By code.")


class FeedCommunities(BaseModel):
    communities: list[FeedCommunityOut] = Field(description="By code.")


@router.get("/communities", summary="Communities and services, for a feed reader")
def communities(session: SessionDep, _token: ChangesReader) -> FeedCommunities:
    """Every community with its services and their ``portal_eligible`` flag. A change to the
    flag is not on the change feed: a reader asks again on each run."""
    services: dict[int, list[FeedServiceOut]] = {}
    for community_id, code, name, eligible in session.execute(
        select(Service.community_id, Service.code, Service.name, Service.portal_eligible).order_by(
            Service.code
        )
    ):
        services.setdefault(community_id, []).append(
            FeedServiceOut(code=code, name=name, portal_eligible=bool(eligible))
        )
    return FeedCommunities(
        communities=[
            FeedCommunityOut(code=c.code, name=c.name, services=services.get(c.id, []))
            for c in session.scalars(select(Community).order_by(Community.code))
        ]
    )
