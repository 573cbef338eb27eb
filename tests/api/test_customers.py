"""Customers over HTTP: by id, by account number, filtered pages, balances and history."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from civic.db import transaction
from civic.ledger import service
from civic.ledger.types import CUSTOMER_FIELDS
from tests.api.conftest import assert_error, customer_id
from tests.builders import ACTOR, Town

EXTRA_FIELDS = {
    "id",
    "community",
    "collection_code",
    "master_account",
    "merged_into",
    "version",
    "refs",
    "alerts",
    "created_at",
    "updated_at",
}


def no_floats(text: str) -> object:
    """Parse JSON, refusing any float: money must be a decimal string."""

    def refuse(value: str) -> None:
        raise AssertionError(f"a float in the JSON: {value}")

    return json.loads(text, parse_float=refuse)


def test_customer_by_id_has_the_canonical_fields(town, reader, engine):
    town.customer("Ann Master", account="001001-01")
    jane = town.customer(
        "Jane O'Brien",
        account="001234-01",
        email="jane@example.org",
        service_address="12 Elm St",
        refs=[("ssr", "SSR-123")],
        master_account="001001-01",
    )
    with transaction(engine) as s:
        c = service.get_customer(s, jane.account_number)
        service.add_alert(s, c, "Dog on premises", actor=ACTOR)
    cid = customer_id(engine, "001234-01")

    r = reader.get(f"/api/v1/customers/{cid}")

    assert r.status_code == 200
    body = r.json()
    assert set(body) == set(CUSTOMER_FIELDS) | EXTRA_FIELDS
    assert body["id"] == cid
    assert body["community"] == "SPRINGFIELD"
    assert body["account_number"] == "001234-01"
    assert (body["first_name"], body["last_name"]) == ("Jane", "O'Brien")
    assert body["email"] == "jane@example.org"
    assert body["master_account"] == "001001-01"
    assert body["refs"] == [{"type": "ssr", "value": "SSR-123"}]
    assert body["alerts"] == ["Dog on premises"]
    assert body["status"] == "active" and body["online_access"] is True
    assert body["version"] >= 1
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    assert datetime.fromisoformat(body["updated_at"]) >= datetime.fromisoformat(body["created_at"])


@pytest.mark.parametrize("spelling", ["001234-01", "1234-1", "00123401", "001234-1"])
def test_customer_by_account_accepts_every_format(town, reader, spelling):
    town.customer("Jane O'Brien", account="001234-01")
    town.customer("Bob Smith", account="001234-02")

    r = reader.get(f"/api/v1/customers/by-account/{spelling}")

    assert r.status_code == 200, r.text
    assert r.json()["account_number"] == "001234-01"
    assert r.json()["last_name"] == "O'Brien"


def test_community_parameter_picks_between_communities(town, reader, engine):
    town.customer("Jane O'Brien", account="001234-01")
    Town(engine, community="SHELBYVILLE").customer("Sam Shelby", account="001234-01")

    ambiguous = reader.get("/api/v1/customers/by-account/1234-1")
    picked = reader.get("/api/v1/customers/by-account/1234-1", params={"community": "shelbyville"})

    err = assert_error(ambiguous, 422, "invalid")
    assert "several communities" in err["message"]
    assert picked.status_code == 200
    assert (picked.json()["community"], picked.json()["last_name"]) == ("SHELBYVILLE", "Shelby")


def test_list_filters_by_name_status_and_community(town, reader, engine):
    town.customer("Jane O'Brien")
    town.customer("Bob Obrien")
    town.customer("Carl Smith")
    town.customer("Obrien Plumbing", business=True)
    closed = town.customer("Dora OBRIEN")
    with transaction(engine) as s:
        service.close_customer(s, service.get_customer(s, closed.account_number), actor=ACTOR)
    Town(engine, community="SHELBYVILLE").customer("Ed Obrien")

    def names(**params: str) -> list[str]:
        r = reader.get("/api/v1/customers", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(body["customers"])
        return sorted(c["last_name"] or c["business_name"] for c in body["customers"])

    assert names(name="obrien") == ["OBRIEN", "Obrien", "Obrien", "Obrien Plumbing"]
    assert names(name="BRIEN", status="closed") == ["OBRIEN"]
    assert names(name="obrien", community="shelbyville") == ["Obrien"]
    assert names(status="active", community="SPRINGFIELD") == [
        "O'Brien",
        "Obrien",
        "Obrien Plumbing",
        "Smith",
    ]


def test_list_pages_with_total_and_next(town, reader):
    for i in range(7):
        town.customer(f"Person{i} Pager", account=f"{2000 + i:06d}-01")

    first = reader.get("/api/v1/customers", params={"name": "pager", "limit": 3}).json()
    assert (first["total"], first["limit"], first["offset"], first["next_offset"]) == (7, 3, 0, 3)
    assert first["next"].startswith("/api/v1/customers?") and "name=pager" in first["next"]
    seen = [c["account_number"] for c in first["customers"]]
    page = first
    while page["next"]:
        page = reader.get(page["next"]).json()
        assert page["total"] == 7
        seen += [c["account_number"] for c in page["customers"]]
    assert seen == [f"{2000 + i:06d}-01" for i in range(7)]
    assert (page["offset"], page["next_offset"], page["next"]) == (6, None, None)

    beyond = reader.get("/api/v1/customers", params={"name": "pager", "offset": 50}).json()
    assert (beyond["customers"], beyond["total"], beyond["next_offset"]) == ([], 7, None)


def test_list_limit_has_a_maximum(town, reader):
    from civic.api.customers import MAX_LIMIT

    town.customer("Jane O'Brien")
    assert reader.get("/api/v1/customers", params={"limit": MAX_LIMIT}).status_code == 200
    err = assert_error(
        reader.get("/api/v1/customers", params={"limit": MAX_LIMIT + 1}), 422, "invalid"
    )
    assert err["details"]["field"] == "limit"


def test_balances_per_service_and_period_as_decimal_strings(town, reader, engine):
    jane = town.customer("Jane O'Brien", account="001234-01")
    for on, amount in [("2010-12-15", "68.27"), ("2011-01-15", "70.51"), ("2011-02-15", "65.77")]:
        jane.charge("WA", amount, on)
    jane.charge("SE", "1,234.56", "2011-02-16")
    jane.pay("60.00", "2011-02-20", svc="WA")
    cid = customer_id(engine, "001234-01")

    r = reader.get(f"/api/v1/customers/{cid}/balances")

    assert r.status_code == 200
    body = no_floats(r.text)
    assert isinstance(body, dict)
    assert (body["customer_id"], body["account_number"], body["as_of"]) == (cid, "001234-01", None)
    assert body["total"] == "1379.11"
    sewer, water = body["services"]
    assert (sewer["service"], sewer["balance"], sewer["unapplied_credit"]) == (
        "SE",
        "1234.56",
        "0.00",
    )
    assert (water["service"], water["name"], water["balance"]) == ("WA", "Water", "144.55")
    assert water["periods"] == [
        {"period_end": "2011-02-28", "age": 0, "charged": "65.77", "outstanding": "65.77"},
        {"period_end": "2011-01-31", "age": 1, "charged": "70.51", "outstanding": "70.51"},
        {"period_end": "2010-12-31", "age": 2, "charged": "68.27", "outstanding": "8.27"},
    ]
    report = jane.balance()
    assert Decimal(body["total"]) * 100 == report.total


def test_balances_as_of_a_date(town, reader, engine):
    bob = town.customer("Bob Smith", account="000777-01")
    bob.charge("SE", "40.00", "2024-01-05")
    bob.pay("100.00", "2024-01-20", svc="SE")
    cid = customer_id(engine, "777-1")

    now = reader.get(f"/api/v1/customers/{cid}/balances").json()
    before = reader.get(f"/api/v1/customers/{cid}/balances", params={"as_of": "2024-01-10"}).json()

    assert (now["total"], now["services"][0]["unapplied_credit"]) == ("-60.00", "-60.00")
    assert (before["as_of"], before["total"]) == ("2024-01-10", "40.00")


def test_transactions_newest_first_paginated(town, reader, engine):
    ann = town.customer("Ann Lee", account="004321-01")
    ann.charge("WA", "30.00", "2024-01-05")
    ann.charge("SE", "20.00", "2024-02-05")
    ann.fee("WA", "5.00", "2024-02-10")
    (payment,) = ann.pay("12.50", "2024-03-01", svc="WA", ref="CHK 101")
    void_id = ann.void(payment, "2024-03-02")
    cid = customer_id(engine, "004321-01")

    first = reader.get(f"/api/v1/customers/{cid}/transactions", params={"limit": 2})
    assert first.status_code == 200
    page = no_floats(first.text)
    assert isinstance(page, dict)
    assert (page["customer_id"], page["account_number"]) == (cid, "004321-01")
    assert (page["limit"], page["offset"], page["next_offset"]) == (2, 0, 2)
    rows = list(page["transactions"])
    while page["next"]:
        page = reader.get(page["next"]).json()
        rows += page["transactions"]
    assert [(t["txn_date"], t["kind"], t["amount"]) for t in rows] == [
        ("2024-03-02", "VOID", "12.50"),
        ("2024-03-01", "PAY", "-12.50"),
        ("2024-02-10", "FEE", "5.00"),
        ("2024-02-05", "CHG", "20.00"),
        ("2024-01-05", "CHG", "30.00"),
    ]
    assert rows[0]["id"] == void_id and rows[0]["voids_id"] == payment
    assert rows[1]["reference"] == "CHK 101" and rows[1]["service"] == "WA"
    assert rows[1]["period_end"] == "2024-03-31" and rows[1]["posted_by"] == ACTOR
    assert datetime.fromisoformat(rows[1]["posted_at"]).tzinfo is not None


def test_transactions_since_a_date(town, reader, engine):
    ann = town.customer("Ann Lee", account="004321-01")
    ann.charge("WA", "30.00", "2024-01-05")
    ann.charge("WA", "31.00", "2024-02-05")
    cid = customer_id(engine, "004321-01")

    r = reader.get(f"/api/v1/customers/{cid}/transactions", params={"since": "2024-02-01"})

    body = r.json()
    assert [t["amount"] for t in body["transactions"]] == ["31.00"]
    assert body["next_offset"] is None and body["next"] is None


def test_transactions_of_a_customer_without_any(town, reader, engine):
    town.customer("Quiet Person", account="000001-01")
    r = reader.get(f"/api/v1/customers/{customer_id(engine, '1-1')}/transactions")
    assert r.status_code == 200
    assert r.json()["transactions"] == [] and r.json()["next"] is None


def test_dates_are_iso(town, reader, engine):
    town.customer("Jane O'Brien", account="001234-01", created_date="1/31/2011")
    body = reader.get(f"/api/v1/customers/{customer_id(engine, '1234-1')}").json()
    assert date.fromisoformat(body["created_date"]) == date(2011, 1, 31)


def test_concurrent_readers(town, api, engine):
    from concurrent.futures import ThreadPoolExecutor

    from civic.ledger import tokens

    jane = town.customer("Jane O'Brien", account="001234-01")
    jane.charge("WA", "10.00", "2024-01-05")
    cid = customer_id(engine, "001234-01")
    paths = [f"/api/v1/customers/{cid}", f"/api/v1/customers/{cid}/balances", "/api/v1/customers"]
    keys = [api.token(tokens.SCOPE_CUSTOMERS_READ, name=f"t{i}") for i in range(4)]

    def fetch(i: int) -> int:
        with api.client(keys[i % len(keys)]) as client:
            return client.get(paths[i % len(paths)]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, range(48)))
    assert statuses == [200] * 48
