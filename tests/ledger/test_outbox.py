"""The change feed: every mutating service writes it in the same transaction; sequence numbers
are read in order; and a service added without a scenario here fails the coverage test."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from civic.db import transaction
from civic.ledger import outbox, service
from civic.ledger.tables import OutboxEntry

TRACKED = (
    "customers",
    "customer_refs",
    "alert_messages",
    "transactions",
    "meter_readings",
    "orders",
)
_WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+\"?(\w+)", re.I)

D = date(2024, 1, 15)


def _cust(s: Session) -> Any:
    return service.get_customer(s, "1000-01")


# name -> (scenario, whether it may change customer data). Every name in service.__all__ must
# appear here: a new service without a scenario fails test_every_service_has_a_scenario.
SCENARIOS: dict[str, tuple[Callable[[Session], Any], bool]] = {
    "add_customer": (
        lambda s: service.add_customer(
            s, service.get_community(s), "7000-01", {"last_name": "New"}, actor="t"
        ),
        True,
    ),
    "update_customer": (
        lambda s: service.update_customer(s, _cust(s), {"city": "Elsewhere"}, actor="t"),
        True,
    ),
    "close_customer": (lambda s: service.close_customer(s, _cust(s), actor="t"), True),
    "add_ref": (lambda s: service.add_ref(s, _cust(s), "parcel", "P-1", actor="t"), True),
    "add_alert": (lambda s: service.add_alert(s, _cust(s), "Hello", actor="t"), True),
    "clear_alerts": (lambda s: service.clear_alerts(s, _cust(s), actor="t"), True),
    "add_alert_to_many": (
        lambda s: service.add_alert_to_many(
            s, [_cust(s).id], "Certified {year}", mode="append", actor="t"
        ),
        True,
    ),
    "assign_collection_code": (
        lambda s: service.assign_collection_code(s, [_cust(s).id], "TC", replace=False, actor="t"),
        True,
    ),
    "post_charge": (lambda s: service.post_charge(s, _cust(s), "WA", 100, D, actor="t"), True),
    "post_fee": (lambda s: service.post_fee(s, _cust(s), "WA", 100, D, actor="t"), True),
    "post_adjustment": (
        lambda s: service.post_adjustment(s, _cust(s), "WA", -100, D, actor="t"),
        True,
    ),
    "post_payment": (lambda s: service.post_payment(s, _cust(s), 500, D, actor="t"), True),
    "post_void": (
        lambda s: service.post_void(
            s, _cust(s), service.payments_by_reference(s, _cust(s), "CHK1")[0], D, actor="t"
        ),
        True,
    ),
    "add_reading": (lambda s: service.add_reading(s, _cust(s), "M-1", 1234, D, actor="t"), True),
    "add_order": (lambda s: service.add_order(s, _cust(s), "PO-9", D, actor="t"), True),
    "close_order": (
        lambda s: service.close_order(s, service.get_community(s), "PO-1", D, actor="t"),
        True,
    ),
    # Community-level set-up: no customer changes, nothing for the portal.
    "create_community": (lambda s: service.create_community(s, "OTHER", "Other", actor="t"), False),
    "add_service": (
        lambda s: service.add_service(s, service.get_community(s), "ST", "Storm"),
        False,
    ),
    # Reads.
    "balance_report": (lambda s: service.balance_report(s, _cust(s)), False),
    "total_balance": (lambda s: service.total_balance(s, _cust(s).id), False),
    "history": (lambda s: service.history(s, _cust(s)), False),
    "get_customer": (_cust, False),
    "get_customer_by_id": (lambda s: service.get_customer_by_id(s, _cust(s).id), False),
    "get_community": (lambda s: service.get_community(s), False),
    "get_service": (lambda s: service.get_service(s, service.get_community(s), "WA"), False),
    "list_communities": (lambda s: service.list_communities(s), False),
    "list_customers": (lambda s: service.list_customers(s, name="lee"), False),
    "find_by_ref": (lambda s: service.find_by_ref(s, service.get_community(s), "ssr", "S1"), False),
    "payments_by_reference": (lambda s: service.payments_by_reference(s, _cust(s), "CHK1"), False),
    "to_view": (lambda s: service.to_view(s, _cust(s)), False),
    "normalize_ref": (lambda s: service.normalize_ref("ssr-1"), False),
}


def test_every_service_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(service.__all__)


@pytest.fixture
def ready(town, engine):  # type: ignore[no-untyped-def]
    ann = town.customer("Ann Lee", account="1000-01", refs=[("ssr", "S1")])
    ann.charge("WA", "20.00", "2024-01-05")
    ann.pay("5.00", "2024-01-10", ref="CHK1")
    with transaction(engine) as s:
        service.add_alert(s, _cust(s), "Old alert", actor="t")
        service.add_order(s, _cust(s), "PO-1", D, actor="t")
    return engine


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_mutations_write_the_feed_in_the_same_transaction(ready, name) -> None:
    scenario, mutates = SCENARIOS[name]
    writes: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        m = _WRITE.match(statement)
        if m and m.group(2).lower() in TRACKED:
            writes.append(m.group(2).lower())

    with transaction(ready) as s:
        before = outbox.last_seq(s)
    event.listen(ready, "before_cursor_execute", spy)
    try:
        with transaction(ready) as s:
            result = scenario(s)
            customer_ids = _touched_customers(s, result)
            new = s.scalars(select(OutboxEntry).where(OutboxEntry.seq > before)).all()
    finally:
        event.remove(ready, "before_cursor_execute", spy)
    if writes:
        assert mutates, f"{name} wrote {writes} but is listed as not changing customer data"
        assert new, f"{name} changed {sorted(set(writes))} without writing the outbox"
        assert customer_ids <= {e.customer_id for e in new}
    else:
        assert not new, f"{name} wrote the outbox without changing anything"


def _touched_customers(s: Session, result: Any) -> set[int]:
    items = result if isinstance(result, list) else [result]
    ids = {item for item in items if isinstance(item, int)}
    for item in items:
        cid = getattr(item, "customer_id", None) or (
            getattr(item, "id", None) if type(item).__name__ == "Customer" else None
        )
        if isinstance(cid, int):
            ids.add(cid)
    return ids


def test_a_failed_change_leaves_no_feed_entry(ready) -> None:
    with transaction(ready) as s:
        before = outbox.last_seq(s)
    with pytest.raises(RuntimeError), transaction(ready) as s:
        service.post_charge(s, _cust(s), "WA", 100, D, actor="t")
        raise RuntimeError("crash after the posting")
    with transaction(ready) as s:
        assert outbox.last_seq(s) == before


def test_feed_reads_after_a_cursor_in_order(ready) -> None:
    with transaction(ready) as s:
        everything = outbox.read_changes(s, 0, 1000)
        seqs = [c.seq for c in everything]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert [c.seq for c in outbox.read_changes(s, seqs[1], 2)] == seqs[2:4]
        assert outbox.last_seq(s) == seqs[-1]


@pytest.mark.postgres
def test_concurrent_writers_never_let_a_reader_skip(ready) -> None:
    """Several writers post while a reader follows the feed by cursor; at the end the reader has
    seen every sequence number exactly once (the lock makes visibility follow issue order)."""
    if ready.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers already")
    writers, posts = 4, 25
    done = threading.Event()
    seen: list[int] = []

    def write(n: int) -> None:
        for i in range(posts):
            with transaction(ready) as s:
                service.post_charge(
                    s, _cust(s), "WA", 100 + n, D, actor=f"w{n}", description=f"{n}-{i}"
                )

    def read() -> None:
        cursor = 0
        with transaction(ready) as s:
            cursor = outbox.last_seq(s)
        start = cursor
        while True:
            finished = done.is_set()
            with transaction(ready) as s:
                batch = outbox.read_changes(s, cursor, 7)
            seen.extend(c.seq for c in batch)
            if batch:
                cursor = batch[-1].seq
            elif finished:
                break
        seen.insert(0, start)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join(timeout=60)
    with transaction(ready) as s:
        start = seen[0]
        expected = s.scalars(
            select(OutboxEntry.seq).where(OutboxEntry.seq > start).order_by(OutboxEntry.seq)
        ).all()
        assert (
            s.scalar(select(func.count()).select_from(OutboxEntry).where(OutboxEntry.seq > start))
            == writers * posts
        )
    assert seen[1:] == list(expected)
