""" "Why isn't this customer in the portal?" — each of seed 001's answers, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from civic.db import read_only, transaction
from civic.ledger import service, tokens
from civic.sync.explain import ApiLookup, Explanation, explain
from civic.sync.feeds import HttpFeed, LedgerFeed
from civic.sync.run import sync_once
from tests.api.conftest import LiveApi
from tests.builders import Town
from tests.sync.helpers import TODAY, merge, small_town


def ask(ledger: Engine, portal: Engine, query: str, **kw: object) -> Explanation:
    with read_only(ledger) as ls, read_only(portal) as ps:
        return explain(ls, ps, query, **kw)  # type: ignore[arg-type]


@pytest.fixture
def town(engine: Engine, portal: Engine) -> Town:
    town = small_town(engine)
    Town(engine, community="RIVERTON").customer("Rita River", "2901-1").charge(
        "WA", "4.00", "2026-10-15"
    )
    sync_once(LedgerFeed(engine, today=TODAY), portal)
    return town


def test_not_in_the_ledger(engine: Engine, portal: Engine, town: Town) -> None:
    answer = ask(engine, portal, "Zebulon Quux")
    assert answer.verdict == "not_in_ledger" and answer.account_number is None
    assert ask(engine, portal, "Zed", account="9999-1").verdict == "not_in_ledger"


def test_in_the_ledger_but_not_synced_yet(engine: Engine, portal: Engine, town: Town) -> None:
    town.customer("Newt Newcomer", "7001-1").charge("WA", "5.00", "2026-10-15")
    answer = ask(engine, portal, "Newt Newcomer", now=datetime.now(UTC))
    assert answer.verdict == "not_synced" and answer.account_number == "007001-01"
    assert "after the portal's cursor" in answer.message and "next sync" in answer.message
    with transaction(engine) as s:
        service.update_customer(
            s, service.get_customer(s, "2001-1"), {"phone": "5550001111"}, actor="t"
        )
    assert ask(engine, portal, "Jon Smith").verdict == "not_synced"
    sync_once(LedgerFeed(engine, today=TODAY), portal)
    assert ask(engine, portal, "Newt Newcomer").verdict == "found"


def test_not_eligible_says_which_rule(engine: Engine, portal: Engine, town: Town) -> None:
    for query, rule in (
        ("Mary Closed", "closed"),
        ("Olaf Offline", "no_online_access"),
        ("Nora Nothing", "no_eligible_charges"),
        ("5001", "no_eligible_charges"),
    ):
        answer = ask(engine, portal, query)
        assert answer.verdict == "not_eligible" and answer.detail["rule"] == rule, query


def test_in_another_community(engine: Engine, portal: Engine, town: Town) -> None:
    answer = ask(engine, portal, "Rita River", communities=["SPRINGFIELD"])
    assert answer.verdict == "other_community" and answer.community == "RIVERTON"
    assert ask(engine, portal, "Rita River", communities=["RIVERTON"]).verdict == "found"


def test_merged_into_another(engine: Engine, portal: Engine, town: Town) -> None:
    town.customer("Jane Obrien", "1235-1").charge("WA", "1.00", "2026-10-15")
    merge(engine, "1235-1", "1234-1")
    sync_once(LedgerFeed(engine, today=TODAY), portal)
    answer = ask(engine, portal, "x", account="1235-1")
    assert answer.verdict == "merged" and answer.detail["merged_into"] == "001234-01"


def test_found_only_by_a_looser_query(engine: Engine, portal: Engine, town: Town) -> None:
    for i in range(11):
        town.customer("Joan Smith", f"{4100 + i}-1").charge("WA", "1.00", "2026-10-15")
    town.customer("Joan Smyth", "4200-1").charge("WA", "1.00", "2026-10-15")
    sync_once(LedgerFeed(engine, today=TODAY), portal)
    answer = ask(engine, portal, "Joan Smith", account="4200-1")
    assert answer.verdict == "looser_query"
    assert answer.detail["looser_query"] == "Smyth"
    assert ask(engine, portal, "Joan Smyth").verdict == "found"


def test_explain_over_the_ledger_api(
    engine: Engine, portal: Engine, town: Town, api: LiveApi
) -> None:
    """A portal hosted away from the ledger asks its API instead of its database."""
    token = api.token(tokens.SCOPE_CUSTOMERS_READ, tokens.SCOPE_CHANGES_READ, name="explain")
    feed = HttpFeed(api.base_url, token, today=TODAY)
    try:
        with read_only(portal) as ps:
            lookup = ApiLookup(feed)
            assert explain(lookup, ps, "Zebulon Quux").verdict == "not_in_ledger"
            assert explain(lookup, ps, "Mary Closed").detail["rule"] == "closed"
            assert explain(lookup, ps, "OBrien", account="1234-1").verdict == "found"
        with transaction(engine) as s:
            c = service.get_customer(s, "1234-1")
            service.update_customer(s, c, {"phone": "5550002222"}, actor="t")
        with read_only(portal) as ps:
            assert explain(ApiLookup(feed), ps, "Jane O'Brien").verdict == "not_synced"
    finally:
        feed.close()
