"""Where the sync reads the ledger: straight from its database (``LedgerFeed``) or over the
ledger API's HTTP feed (``HttpFeed``, a token with ``changes:read`` and ``customers:read``).

Both answer the same questions: the newest and oldest sequence number of the change feed, the
changes after a cursor, the current records of some customers, and a snapshot walked page by
page. A snapshot page is identified by a ``mark`` the feed understands (``id:123`` or
``offset:500``); a mark of another kind means another feed began the snapshot, which restarts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from civic.db import read_only
from civic.errors import CivicError
from civic.ledger import outbox
from civic.money import to_cents
from civic.portal.store.apply import apply_records
from civic.portal.store.records import (
    CommunityInfo,
    CustomerRecord,
    PeriodRecord,
    ServiceRecord,
    TransactionRecord,
)
from civic.sync import delta, project

HTTP_PAGE = 1000
"""The most changes the ledger API returns per request."""


@dataclass(frozen=True)
class FeedChange:
    seq: int
    at: datetime
    customer_id: int
    entity: str | None = None
    """``customer``, ``transaction``, ``reading`` or ``order`` when the feed says (the ledger
    database does; the delta path of the sync needs it)."""
    entity_id: int | None = None
    op: str | None = None


class FeedUnavailable(CivicError):
    """The ledger (database or API) could not be read; the sync retries later."""

    status = 503
    code = "feed_unavailable"


class Feed(Protocol):
    source: str
    mark_kind: str

    def latest(self) -> int: ...

    def first_seq(self) -> int | None: ...

    def changes(self, after: int, limit: int) -> list[FeedChange]: ...

    def records(self, ids: Sequence[int]) -> dict[int, CustomerRecord]: ...

    def snapshot_page(
        self, mark: str | None, size: int
    ) -> tuple[list[CustomerRecord], str | None]: ...

    def communities(self) -> list[CommunityInfo]: ...

    def close(self) -> None: ...


def _today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


@contextmanager
def consistent_read(engine: Engine) -> Iterator[Session]:
    """A read-only ledger session in which every statement sees the same committed state.

    On PostgreSQL this is a REPEATABLE READ transaction: at the default READ COMMITTED each
    statement takes a new snapshot, so a projection's balance sums and its rows of transactions
    could disagree about a posting committed between the two statements (the delta path then
    trusted that stored state, see ``civic.sync.delta``). A SQLite read transaction in WAL mode
    is already one snapshot from its first read to its end.
    """
    with engine.connect() as conn:
        options: dict[str, Any] = {"civic_read_only": True}
        if engine.dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        conn = conn.execution_options(**options)
        session = Session(bind=conn, expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            conn.rollback()


class LedgerFeed:
    """Reads the ledger database directly (``civic.ledger.outbox`` and the projection)."""

    def __init__(self, engine: Engine, *, today: date | None = None) -> None:
        self.engine = engine
        self.today = today
        url = engine.url.render_as_string(hide_password=True)
        self.source = f"ledger {url}"
        self.mark_kind = "id"

    def latest(self) -> int:
        with read_only(self.engine) as s:
            return outbox.last_seq(s)

    def first_seq(self) -> int | None:
        with read_only(self.engine) as s:
            first = outbox.read_changes(s, after=0, limit=1)
        return first[0].seq if first else None

    def changes(self, after: int, limit: int) -> list[FeedChange]:
        """``outbox.read_changes`` as plain rows (no ORM objects: a batch is 1,000 of them)."""
        o = outbox.OUTBOX.c
        with read_only(self.engine) as s:
            rows = s.connection().execute(
                select(o.seq, o.at, o.customer_id, o.entity, o.entity_id, o.op)
                .where(o.seq > after)
                .order_by(o.seq)
                .limit(limit)
            )
            return [FeedChange(*row) for row in rows]

    def records(self, ids: Sequence[int]) -> dict[int, CustomerRecord]:
        with consistent_read(self.engine) as s:
            return project.project(s, ids, today=_today(self.today))

    def apply_changes(
        self, portal: Session, changes: Sequence[FeedChange], *, seq: int
    ) -> delta.DeltaResult:
        """Apply a batch in the caller's portal transaction: the delta path
        (``civic.sync.delta``), then the full projection of the customers it left, both read
        from ONE consistent snapshot of the ledger taken after the batch's changes were read.
        ``applied`` counts both; ``fallback`` names the customers that took the full path."""
        today = _today(self.today)
        with consistent_read(self.engine) as s:
            done = delta.apply_deltas(portal, s, changes, today=today, seq=seq)
            if done.fallback:
                records = project.project(s, done.fallback, today=today)
                done.applied.add(apply_records(portal, list(records.values()), seq=seq))
        return done

    def snapshot_page(self, mark: str | None, size: int) -> tuple[list[CustomerRecord], str | None]:
        after = 0
        if mark is not None:
            kind, _, value = mark.partition(":")
            if kind != "id":
                raise ValueError(f"not a mark of this feed: {mark}")
            after = int(value)
        with consistent_read(self.engine) as s:
            ids = project.customer_ids_after(s, after, size)
            found = project.project(s, ids, today=_today(self.today))
        records = [found[i] for i in ids if i in found]
        return records, (f"id:{ids[-1]}" if len(ids) == size else None)

    def communities(self) -> list[CommunityInfo]:
        with read_only(self.engine) as s:
            return project.communities(s)

    def close(self) -> None:
        return None


def _cents(value: str) -> int:
    return int(to_cents(value))


class HttpFeed:
    """Reads the ledger API: ``/api/v1/changes`` and ``/api/v1/customers/...``."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        today: date | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.today = today
        self.source = f"api {self.base_url}"
        self.mark_kind = "offset"
        self.client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def _get(self, path: str, **params: Any) -> Any:
        try:
            response = self.client.get(f"/api/v1{path}", params=params)
        except httpx.HTTPError as exc:
            raise FeedUnavailable(f"cannot reach the ledger API at {self.base_url}: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            message = response.text[:200]
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                pass
            raise FeedUnavailable(
                f"the ledger API answered {response.status_code} for {path}: {message}"
            )
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        """A ledger API answer as JSON (None for 404), e.g. ``get("/customers/12")``."""
        return self._get(path, **params)

    def latest(self) -> int:
        page = self._get("/changes", after=2**63 - 1, limit=1)
        return int(page["latest_seq"])

    def first_seq(self) -> int | None:
        page = self._get("/changes", after=0, limit=1)
        return int(page["changes"][0]["seq"]) if page["changes"] else None

    def changes(self, after: int, limit: int) -> list[FeedChange]:
        page = self._get("/changes", after=after, limit=min(limit, HTTP_PAGE))
        return [
            FeedChange(
                int(c["seq"]),
                datetime.fromisoformat(c["at"]),
                int(c["customer_id"]),
                c.get("entity"),
                None if c.get("entity_id") is None else int(c["entity_id"]),
                c.get("op"),
            )
            for c in page["changes"]
        ]

    def _record(self, customer: dict[str, Any]) -> CustomerRecord | None:
        cid = int(customer["id"])
        start = project.history_start(_today(self.today))
        balances = self._get(f"/customers/{cid}/balances")
        if balances is None:
            return None
        txns: list[TransactionRecord] = []
        offset: int | None = 0
        while offset is not None:
            page = self._get(
                f"/customers/{cid}/transactions", since=start.isoformat(), limit=500, offset=offset
            )
            if page is None:
                return None
            txns.extend(
                TransactionRecord(
                    id=int(t["id"]),
                    service=t["service"],
                    period_end=date.fromisoformat(t["period_end"]),
                    kind=t["kind"],
                    amount=_cents(t["amount"]),
                    txn_date=date.fromisoformat(t["txn_date"]),
                    description=t["description"],
                    reference=t["reference"],
                    voids_id=t["voids_id"],
                )
                for t in page["transactions"]
            )
            offset = page["next_offset"]
        services = tuple(
            ServiceRecord(
                service=s["service"],
                name=s["name"],
                balance=_cents(s["balance"]),
                unapplied_credit=_cents(s["unapplied_credit"]),
                periods=tuple(
                    PeriodRecord(
                        period_end=date.fromisoformat(p["period_end"]),
                        age=int(p["age"]),
                        charged=_cents(p["charged"]),
                        outstanding=_cents(p["outstanding"]),
                    )
                    for p in s["periods"]
                    if _cents(p["outstanding"]) != 0 or date.fromisoformat(p["period_end"]) >= start
                ),
            )
            for s in balances["services"]
        )
        return CustomerRecord(
            id=cid,
            community=customer["community"],
            account_number=customer["account_number"],
            first_name=customer["first_name"],
            middle_name=customer["middle_name"],
            last_name=customer["last_name"],
            suffix=customer["suffix"],
            business_name=customer["business_name"],
            service_address=customer["service_address"],
            mailing_address=customer["mailing_address"],
            city=customer["city"],
            state=customer["state"],
            zip=customer["zip"],
            phone=customer["phone"],
            email=customer["email"],
            status=customer["status"],
            online_access=bool(customer["online_access"]),
            master_account=customer["master_account"],
            merged_into_account=customer.get("merged_into"),
            alerts=tuple(customer["alerts"]),
            version=int(customer["version"]),
            services=services,
            transactions=tuple(txns),
        )

    def records(self, ids: Sequence[int]) -> dict[int, CustomerRecord]:
        found: dict[int, CustomerRecord] = {}
        for cid in dict.fromkeys(ids):
            customer = self._get(f"/customers/{cid}")
            if customer is None:
                continue
            record = self._record(customer)
            if record is not None:
                found[cid] = record
        return found

    def snapshot_page(self, mark: str | None, size: int) -> tuple[list[CustomerRecord], str | None]:
        offset = 0
        if mark is not None:
            kind, _, value = mark.partition(":")
            if kind != "offset":
                raise ValueError(f"not a mark of this feed: {mark}")
            offset = int(value)
        page = self._get("/customers", limit=min(size, 500), offset=offset)
        records = [r for c in page["customers"] if (r := self._record(c)) is not None]
        nxt = page["next_offset"]
        return records, (f"offset:{nxt}" if nxt is not None else None)

    def communities(self) -> list[CommunityInfo]:
        """From ``/changes/communities``, with the services not ``portal_eligible``; none
        from a ledger API too old to have it (the portal keeps its own setting then)."""
        page = self._get("/changes/communities")
        if page is None:
            return []
        return [
            CommunityInfo(
                code=c["code"],
                name=c["name"],
                ineligible_services=tuple(
                    sorted(s["code"] for s in c["services"] if not s["portal_eligible"])
                ),
            )
            for c in page["communities"]
        ]

    def close(self) -> None:
        self.client.close()
