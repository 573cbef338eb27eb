"""The change feed over HTTP: ordered by seq, read after a cursor, with the newest seq."""

from __future__ import annotations

from datetime import datetime

from civic.db import read_only
from civic.ledger import outbox
from tests.api.conftest import customer_id


def _busy_town(town):
    jane = town.customer("Jane O'Brien", account="001234-01")
    bob = town.customer("Bob Smith", account="001235-01")
    jane.charge("WA", "10.00", "2024-01-05")
    bob.charge("SE", "20.00", "2024-01-06")
    jane.pay("10.00", "2024-01-20", svc="WA")
    return jane, bob


def _stored_changes(engine):
    with read_only(engine) as s:
        return outbox.read_changes(s, after=0, limit=10_000), outbox.last_seq(s)


def test_all_changes_in_seq_order_with_the_latest_seq(town, feed, engine):
    _busy_town(town)
    stored, latest = _stored_changes(engine)

    r = feed.get("/api/v1/changes", params={"limit": 1000})

    assert r.status_code == 200
    body = r.json()
    assert [c["seq"] for c in body["changes"]] == [c.seq for c in stored]
    assert [c["seq"] for c in body["changes"]] == sorted(c["seq"] for c in body["changes"])
    assert (body["after"], body["limit"]) == (0, 1000)
    assert body["latest_seq"] == latest == stored[-1].seq
    assert body["next_after"] == latest and body["caught_up"] is True
    first = body["changes"][0]
    assert set(first) == {"seq", "at", "community_id", "customer_id", "entity", "entity_id", "op"}
    assert (first["entity"], first["op"]) == ("customer", "add")
    assert first["customer_id"] == customer_id(engine, "001234-01")
    assert datetime.fromisoformat(first["at"]).tzinfo is not None
    entities = {c["entity"] for c in body["changes"]}
    assert {"customer", "transaction"} <= entities


def test_reading_on_after_the_cursor_in_small_pages(town, feed, engine):
    _busy_town(town)
    stored, latest = _stored_changes(engine)

    seen: list[int] = []
    after = 0
    while True:
        body = feed.get("/api/v1/changes", params={"after": after, "limit": 2}).json()
        assert len(body["changes"]) <= 2
        assert all(c["seq"] > after for c in body["changes"])
        assert body["latest_seq"] == latest
        seen += [c["seq"] for c in body["changes"]]
        after = body["next_after"]
        if body["caught_up"]:
            break
        assert body["next_after"] < body["latest_seq"]
    assert seen == [c.seq for c in stored]
    assert after == latest


def test_a_reader_at_the_head_gets_nothing_and_keeps_its_cursor(town, feed, engine):
    _busy_town(town)
    _stored, latest = _stored_changes(engine)

    body = feed.get("/api/v1/changes", params={"after": latest}).json()

    assert body["changes"] == []
    assert (body["next_after"], body["latest_seq"], body["caught_up"]) == (latest, latest, True)


def test_new_changes_appear_after_the_cursor(town, feed):
    jane, _bob = _busy_town(town)
    head = feed.get("/api/v1/changes", params={"limit": 1000}).json()["next_after"]

    jane.charge("GA", "7.00", "2024-02-01")
    body = feed.get("/api/v1/changes", params={"after": head}).json()

    assert [(c["entity"], c["op"]) for c in body["changes"]] == [("transaction", "post")]
    assert body["changes"][0]["seq"] > head
    assert body["latest_seq"] == body["next_after"] == body["changes"][0]["seq"]


def test_an_empty_feed(api, feed):
    body = feed.get("/api/v1/changes").json()
    assert body == {
        "after": 0,
        "limit": 100,
        "changes": [],
        "next_after": 0,
        "latest_seq": 0,
        "caught_up": True,
    }


def test_communities_carry_the_service_level_portal_eligible_flag(town, feed, reader, engine):
    from sqlalchemy import update

    from civic.db import transaction
    from civic.ledger.tables import Service

    _busy_town(town)
    with transaction(engine) as s:
        s.execute(update(Service).where(Service.code == "GA").values(portal_eligible=False))

    r = feed.get("/api/v1/changes/communities")

    assert r.status_code == 200, r.text
    (springfield,) = r.json()["communities"]
    assert springfield["code"] == "SPRINGFIELD" and springfield["name"]
    flags = {s["code"]: s["portal_eligible"] for s in springfield["services"]}
    assert flags == {"GA": False, "SE": True, "WA": True}
    assert [s["code"] for s in springfield["services"]] == sorted(flags)
    assert all(s["name"] for s in springfield["services"])
    # the feed's scope, like the changes themselves
    assert reader.get("/api/v1/changes/communities").status_code == 403
