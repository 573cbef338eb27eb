""" "Why isn't this customer in the portal?" answered from facts, in seed 001's order:

1. ``not_in_ledger``: no ledger customer matches the query at all.
2. ``not_synced``: the ledger has it, but its newest change is after the portal's cursor (or it
   never reached the portal); says when the next sync is due.
3. ``not_eligible``: the portal has it but a rule of its community hides it (which rule). When
   the record is inactive because a merge retired it, the answer is ``merged`` instead (4).
4. ``other_community``: it belongs to a community the asker may not see.
5. ``merged``: a merge retired it; its account number leads to the survivor (which).
6. ``looser_query``: the search as typed does not show it, a looser one does (which).
7. ``found``: the search as typed shows it (its place in the results).

The customer meant is the one whose account number is given with the query ("I searched
*Joan Smith* and 1302-1 did not show"), or else the best match of the query among ledger
customers and all portal records (hidden ones included), preferring the asker's communities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from rapidfuzz import fuzz
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from civic.ledger.tables import Community, Customer, OutboxEntry
from civic.portal.store import state as store_state
from civic.portal.store.eligibility import REASONS
from civic.portal.store.normalize import fold, number_query
from civic.portal.store.search import Hit, search
from civic.portal.store.tables import PortalCustomer
from civic.sync.feeds import HttpFeed

VERDICTS = (
    "not_in_ledger",
    "not_synced",
    "not_eligible",
    "other_community",
    "merged",
    "looser_query",
    "found",
)
MIN_SCORE = 60.0
"""How close a ledger customer must be to the query to count as the one meant."""


@dataclass(frozen=True)
class Explanation:
    query: str
    verdict: str
    message: str
    account_number: str | None = None
    community: str | None = None
    name: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Candidate:
    customer_id: int
    account_number: str
    community: str
    name: str
    score: float


def _ledger_candidates(ledger: Session, query: str) -> list[_Candidate]:
    number = number_query(query)
    stmt = select(Customer, Community.code).join(Community, Community.id == Customer.community_id)
    if number is not None:
        conds = []
        if number.account:
            conds.append(Customer.account_number == number.account)
        if number.location is not None:
            conds.append(Customer.location == f"{number.location:06d}")
        if len(number.digits) >= 7:
            conds.append(Customer.phone.is_not(None))
        if not conds:
            return []
        rows = ledger.execute(stmt.where(or_(*conds)).limit(200)).all()
        out = []
        for c, code in rows:
            phone = "".join(ch for ch in c.phone or "" if ch.isdigit())
            if number.account and c.account_number == number.account:
                score = 100.0
            elif number.location is not None and c.location == f"{number.location:06d}":
                score = 98.0
            elif len(number.digits) >= 7 and phone.endswith(number.digits):
                score = 95.0
            else:
                continue
            out.append(_Candidate(c.id, c.account_number, code, _name(c), score))
        return out
    words = [w for w in fold(query).split() if len(w) >= 3]
    if not words:
        return []
    conds = []
    for w in words:
        pattern = f"%{w[:4]}%"
        for col in (Customer.last_name, Customer.first_name, Customer.business_name):
            conds.append(func.lower(col).like(pattern))
        conds.append(func.lower(Customer.service_address).like(f"%{w}%"))
    rows = ledger.execute(stmt.where(or_(*conds)).limit(2000)).all()
    q = " ".join(fold(query).split())
    out = []
    for c, code in rows:
        name = fold(_name(c))
        score = max(
            fuzz.token_sort_ratio(q, name),
            fuzz.token_set_ratio(q, name) * 0.98,
            fuzz.token_set_ratio(q, f"{name} {fold(c.service_address)}") * 0.97,
        )
        if score >= MIN_SCORE:
            out.append(_Candidate(c.id, c.account_number, code, _name(c), score))
    return out


def _name(c: Customer) -> str:
    if c.business_name:
        return c.business_name
    return " ".join(p for p in (c.first_name, c.middle_name, c.last_name, c.suffix) if p)


def _portal_candidates(portal: Session, query: str) -> list[_Candidate]:
    hits = search(portal, query, communities=None, visible_only=False, limit=10)
    return [
        _Candidate(h.customer_id, h.account_number, h.community, h.display_name, h.score)
        for h in hits
        if h.via is None
    ]


class LedgerLookup(Protocol):
    """What explain asks the ledger: who matches, does a customer exist, and what the ledger
    knows that the portal may not have yet."""

    def candidates(self, query: str) -> list[_Candidate]: ...

    def exists(self, customer_id: int) -> bool: ...

    def pending(self, customer_id: int, cursor: int, version: int | None) -> tuple[bool, str]:
        """(whether the ledger holds a change the portal has not applied, how we know)."""
        ...


class DirectLookup:
    """The ledger database itself: the customer's newest change in the feed is compared with
    the portal's cursor."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def candidates(self, query: str) -> list[_Candidate]:
        return _ledger_candidates(self.session, query)

    def exists(self, customer_id: int) -> bool:
        return self.session.get(Customer, customer_id) is not None

    def pending(self, customer_id: int, cursor: int, version: int | None) -> tuple[bool, str]:
        newest = self.session.scalar(
            select(func.max(OutboxEntry.seq)).where(OutboxEntry.customer_id == customer_id)
        )
        if newest is None:
            return version is None, "it"
        return version is None or newest > cursor, f"its change {newest}"


class ApiLookup:
    """The ledger API (when the portal cannot reach the ledger database): candidates by account
    number or name, and the customer's version compared with the one the portal stored (a new
    transaction does not change the version, so only profile changes are seen this way)."""

    def __init__(self, feed: HttpFeed) -> None:
        self.feed = feed

    def candidates(self, query: str) -> list[_Candidate]:
        number = number_query(query)
        found: list[dict[str, Any]] = []
        if number is not None:
            if number.account:
                one = self.feed.get(f"/customers/by-account/{number.account}")
                found = [one] if one else []
        else:
            words = sorted((w for w in fold(query).split() if len(w) >= 3), key=len)
            if words:
                page = self.feed.get("/customers", name=words[-1][:4], limit=500)
                found = list(page["customers"]) if page else []
        q = " ".join(fold(query).split())
        out = []
        for c in found:
            name = c["business_name"] or " ".join(
                p for p in (c["first_name"], c["middle_name"], c["last_name"], c["suffix"]) if p
            )
            score = 100.0 if number is not None else _text_score(q, fold(name), c)
            if score >= MIN_SCORE:
                cid = int(c["id"])
                out.append(_Candidate(cid, c["account_number"], c["community"], name, score))
        return out

    def exists(self, customer_id: int) -> bool:
        return self.feed.get(f"/customers/{customer_id}") is not None

    def pending(self, customer_id: int, cursor: int, version: int | None) -> tuple[bool, str]:
        found = self.feed.get(f"/customers/{customer_id}")
        if found is None:
            return False, "it"
        return version is None or int(found["version"]) > version, "its profile change"


def _text_score(q: str, name: str, customer: dict[str, Any]) -> float:
    return max(
        fuzz.token_sort_ratio(q, name),
        fuzz.token_set_ratio(q, name) * 0.98,
        fuzz.token_set_ratio(q, f"{name} {fold(customer.get('service_address'))}") * 0.97,
    )


def looser_queries(query: str, row: PortalCustomer) -> list[str]:
    """Simpler queries a clerk could try, most specific first (seed 001's advice)."""
    out: list[str] = []
    plain = " ".join(fold(query).split())
    if plain and plain != query:
        out.append(plain)
    if row.last_name:
        out.append(row.last_name)
    out.extend(w for w in plain.split() if len(w) >= 3)
    out.append(row.account_number)
    return list(dict.fromkeys(q for q in out if q))


def explain(
    ledger: Session | LedgerLookup,
    portal: Session,
    query: str,
    *,
    communities: Sequence[str] | None = None,
    account: str | None = None,
    now: datetime | None = None,
) -> Explanation:
    """The first reason, in seed 001's order, that ``query`` does not show the customer meant
    (or where it shows it)."""
    from datetime import UTC

    now = now or datetime.now(UTC)
    lookup: LedgerLookup = DirectLookup(ledger) if isinstance(ledger, Session) else ledger
    if account is not None:
        candidates = {c.customer_id: c for c in lookup.candidates(account)}
        wanted = number_query(account)
        candidates = {
            k: c
            for k, c in candidates.items()
            if wanted is not None and c.account_number == wanted.account
        }
        if not candidates:
            return Explanation(
                query, "not_in_ledger", f"No customer in the ledger has account number {account}."
            )
    else:
        candidates = {c.customer_id: c for c in _portal_candidates(portal, query)}
        for c in lookup.candidates(query):
            if c.customer_id not in candidates or candidates[c.customer_id].score < c.score:
                candidates[c.customer_id] = c
    if not candidates:
        return Explanation(
            query,
            "not_in_ledger",
            f"No customer in the ledger matches {query!r}: check the spelling or the account "
            "number; the customer may have to be added to the ledger first.",
        )
    allowed = set(communities) if communities is not None else None
    best = max(
        candidates.values(),
        key=lambda c: (c.score, allowed is None or c.community in allowed, -c.customer_id),
    )

    def answer(verdict: str, message: str, **detail: Any) -> Explanation:
        return Explanation(
            query,
            verdict,
            message,
            account_number=best.account_number,
            community=best.community,
            name=best.name,
            detail=detail,
        )

    if not lookup.exists(best.customer_id):
        return Explanation(
            query,
            "not_in_ledger",
            f"{best.name} ({best.account_number}) is in the portal but no longer in the ledger.",
        )
    status = store_state.status(portal)
    cursor = status.cursor or 0
    row = portal.get(PortalCustomer, best.customer_id)
    due = _next_due(status.next_due_at, status.interval_seconds, now)
    waiting, change = lookup.pending(
        best.customer_id, cursor, row.ledger_version if row is not None else None
    )
    if row is None or status.cursor is None or waiting:
        return answer(
            "not_synced",
            f"{best.name} ({best.account_number}) is in the ledger but not synced yet: "
            f"{change} is after the portal's cursor {cursor}. {due}",
            cursor=status.cursor,
            next_sync=due,
        )
    merged = row.merged_into_account
    if not row.eligible and not (merged and row.ineligible_reason == "inactive"):
        reason = row.ineligible_reason or ""
        return answer(
            "not_eligible",
            f"{best.name} ({best.account_number}) is not shown in the portal: "
            f"{REASONS.get(reason, reason)} (rule {reason} of community {row.community}).",
            rule=reason,
        )
    if communities is not None and row.community not in communities:
        return answer(
            "other_community",
            f"{best.name} ({best.account_number}) belongs to community {row.community}, "
            f"which is not among yours ({', '.join(communities) or 'none'}).",
        )
    if merged:
        return answer(
            "merged",
            f"{best.name} ({best.account_number}) was merged into {merged}: search for "
            f"{merged}; the old account number leads there too.",
            merged_into=merged,
        )
    hits = search(portal, query, communities=communities)
    place = _place(hits, best.customer_id)
    if place is not None:
        return answer(
            "found",
            f"{best.name} ({best.account_number}) is found by {query!r}: result {place}.",
            place=place,
        )
    for looser in looser_queries(query, row):
        place = _place(search(portal, looser, communities=communities), best.customer_id)
        if place is not None:
            return answer(
                "looser_query",
                f"{best.name} ({best.account_number}) is not among the first results for "
                f"{query!r}; search {looser!r} finds it (result {place}).",
                looser_query=looser,
                place=place,
            )
    return answer(
        "looser_query",
        f"{best.name} ({best.account_number}) is not among the first results for {query!r}; "
        f"search its account number {best.account_number}.",
        looser_query=best.account_number,
    )


def _place(hits: list[Hit], customer_id: int) -> int | None:
    for i, h in enumerate(hits, start=1):
        if h.customer_id == customer_id:
            return i
    return None


def _next_due(next_due: datetime | None, interval: int | None, now: datetime) -> str:
    if next_due is None:
        return "The portal has not synced yet: run `civic sync run`."
    if next_due <= now:
        return "The next sync is due now."
    seconds = int((next_due - now) / timedelta(seconds=1)) + 1
    return f"The next sync is due in {seconds} s ({next_due:%H:%M:%S} UTC)."
