"""Staff search over a synced store, on both backends: typos, partials, punctuation, account
numbers in every spelling, address fragments, phones, communities."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from civic.db import read_only
from civic.portal.store.search import search
from civic.sync.feeds import LedgerFeed
from civic.sync.run import sync_once
from tests.builders import Town
from tests.sync.helpers import TODAY, small_town


@pytest.fixture
def synced(engine: Engine, portal: Engine) -> Engine:
    small_town(engine)
    town = Town(engine)
    for name, account, address in (
        ("Janet Obermann", "1300-1", "14 Main St"),
        ("John Smithers", "1301-1", "402 Oak Avenue"),
        ("Joan Smyth", "1302-1", "7 Birch Road"),
    ):
        town.customer(name, account, service_address=address).charge("WA", "3.00", "2026-10-15")
    other = Town(engine, community="RIVERTON")
    other.customer("Jon Smith", "2001-1", service_address="1 River Rd").charge(
        "WA", "4.00", "2026-10-15"
    )
    sync_once(LedgerFeed(engine, today=TODAY), portal)
    return portal


def top(portal: Engine, query: str, n: int = 3, **kw: object) -> list[str]:
    with read_only(portal) as s:
        return [f"{h.community[:1]}{h.account_number}" for h in search(s, query, **kw)][:n]  # type: ignore[arg-type]


JANE = (
    "Jane O'Brien",
    "jane obrien",
    "OBrien",
    "O Brien",
    "o'bri",
    "obrien jane",
    "Jane OBrein",  # one typo
    "Jnae OBrein",  # two typos
    "12 Main",
    "main st 12",
    "1234",
    "1234-1",
    "001234-01",
    "00123401",
    "(555) 123-4567",
    "5551234567",
    "123-4567",
)
JON = ("smith jon", "Jon Smith", "Jon Smtih", "jon smi", "400 oak", "400 Oak Avenue")


def test_names_typos_punctuation_accounts_addresses_and_phones(synced: Engine) -> None:
    missed = [q for q in JANE if top(synced, q, 1) != ["S001234-01"]]
    missed += [q for q in JON if top(synced, q, 1, communities=["SPRINGFIELD"]) != ["S002001-01"]]
    assert missed == []


def test_results_respect_the_communities_allowed(synced: Engine) -> None:
    both = top(synced, "jon smith", 5)
    assert "S002001-01" in both and "R002001-01" in both
    assert top(synced, "jon smith", 5, communities=["RIVERTON"]) == ["R002001-01"]
    assert top(synced, "jane obrien", 5, communities=["RIVERTON"]) == []
    assert top(synced, "1234", 5, communities=[]) == []


def test_ineligible_records_are_not_shown_to_residents(synced: Engine) -> None:
    assert "S003001-01" not in top(synced, "Mary Closed", 5)
    assert top(synced, "Mary Closed", 1, visible_only=False) == ["S003001-01"]
    assert top(synced, "3001", 1) == []
    assert top(synced, "Acme Hardwre", 1) == ["S006001-01"]


@pytest.fixture
def lookalikes(engine: Engine, portal: Engine) -> Engine:
    """Near-duplicate names, as the sample town plants them: a typo of one customer's name is
    often one edit from another real customer."""
    town = Town(engine)
    for name, account, address in (
        ("Henrietta Vanderhoeven", "1400-1", "3 Alder Way"),
        ("Henrietta Vanderhoven", "1401-1", "88 Birch Road"),
        ("Julie Hunt", "1500-1", "5 Cedar Ct"),
        ("Julie Hunter", "1501-1", "6 Cedar Ct"),
        ("Ruth Okonkwo", "1600-1", "10 Elm St"),
        ("Robert Okonkwo", "1601-1", "11 Elm St"),
        ("Dmitri Graham", "1700-1", "12 Fir St"),
    ):
        town.customer(name, account, service_address=address).charge("WA", "3.00", "2026-10-15")
    sync_once(LedgerFeed(engine, today=TODAY), portal)
    return portal


def test_two_edit_typos_find_the_customer_next_to_its_look_alike(lookalikes: Engine) -> None:
    # One edit in each word; the look-alike is one edit closer in the last name.
    assert "S001400-01" in top(lookalikes, "Henrieta Vandrhoeven", 2)
    # Two edits in the last name.
    assert "S001400-01" in top(lookalikes, "Henrietta Vandrehoevn", 2)
    # A typed word of four letters may be two edits from a long name (``gram``: ``graham``).
    assert top(lookalikes, "Dmitri Gram", 1) == ["S001700-01"]


def test_a_partial_name_that_is_another_whole_name(lookalikes: Engine) -> None:
    assert top(lookalikes, "julie hunt", 2) == ["S001500-01", "S001501-01"]
    assert top(lookalikes, "julie hunte", 1) == ["S001501-01"]


def test_a_three_letter_typo_is_corrected(lookalikes: Engine) -> None:
    assert top(lookalikes, "Ruh Okonkwo", 1) == ["S001600-01"]
    assert top(lookalikes, "Rbert Okonkwo", 1) == ["S001601-01"]


def test_a_customer_without_a_word_of_three_letters_is_synced(
    engine: Engine, portal: Engine
) -> None:
    Town(engine).customer("Al Wu", "1800-1", service_address="7 N St").charge(
        "WA", "3.00", "2026-10-15"
    )
    sync_once(LedgerFeed(engine, today=TODAY), portal)
    assert top(portal, "1800-1", 1) == ["S001800-01"]


@pytest.fixture
def namesakes(engine: Engine, portal: Engine) -> Engine:
    """Names whose words another customer holds in another order, and double names."""
    town = Town(engine)
    for name, account, address in (
        ("William Kim", "1900-1", "1 Pine St"),
        ("Kim S Williams", "1901-1", "2 Pine St"),
        ("Julie Wood", "1902-1", "3 Pine St"),
        ("Wood Julie", "1903-1", "4 Pine St"),
        ("Jason L Smith-Jones", "1904-1", "5 Pine St"),
        ("Jason SmithJones", "1905-1", "6 Pine St"),
        ("Jason Smith", "1906-1", "7 Pine St"),
        ("Jason Jones", "1907-1", "8 Pine St"),
        ("Andrew Tohmas", "1908-1", "9 Pine St"),
        ("Thomas R Thomass", "1909-1", "10 Pine St"),
    ):
        town.customer(name, account, service_address=address).charge("WA", "3.00", "2026-10-15")
    sync_once(LedgerFeed(engine, today=TODAY), portal)
    return portal


def test_the_query_word_order_is_weighed_a_little(namesakes: Engine) -> None:
    # Both begin with the query's words; the one in the query's order first.
    assert top(namesakes, "Kim Willia", 2) == ["S001901-01", "S001900-01"]
    assert top(namesakes, "William Ki", 1) == ["S001900-01"]
    # A comma puts the last name first: ``Wood, Julie`` is Julie Wood.
    assert top(namesakes, "Wood, Julie", 2) == ["S001902-01", "S001903-01"]
    assert top(namesakes, "Wood Julie", 1) == ["S001903-01"]


def test_a_double_name_typed_as_one_word_with_a_typo(namesakes: Engine) -> None:
    # Neither part is a word as typed: ``smitha`` and ``joens`` are one edit from the parts.
    assert "S001904-01" in top(namesakes, "Jason SmithaJoens", 2)
    assert "S001904-01" in top(namesakes, "Jason SmithJones", 2)
    assert "S001904-01" in top(namesakes, "Jasn SmithbJones", 2)


def test_a_name_word_answers_one_query_word(namesakes: Engine) -> None:
    # ``tohmas`` is Andrew Tohmas's last name, and ``thomams`` one edit from it too; but one
    # word cannot answer both: Thomas R Thomass (a typo in each word) first.
    assert top(namesakes, "Tohmas Thomams", 1) == ["S001909-01"]
