"""Selection criteria select the right customers on both databases, safely, and bad criteria
are refused naming the token and its position."""

from __future__ import annotations

import pytest

from civic.db import transaction
from civic.errors import InvalidInput
from civic.ledger import service


@pytest.fixture
def people(town):  # type: ignore[no-untyped-def]
    town.customer(
        "Jane O'Brien", account="1001-01", city="Springfield", zip="62701", collection_code="TC"
    ).charge("WA", "120.00", "2024-01-05")
    town.customer(
        "Bob McDonald", account="1002-01", city="springfield", zip="62702", status="inactive"
    ).charge("SE", "30.00", "2024-01-05")
    town.customer("Ann Smith", account="1003-01", city="Shelbyville", online_access=False)
    town.customer("Acme Water Co", account="1004-01", business=True).charge(
        "WA", "500.00", "2024-01-05"
    ).charge("GA", "20.00", "2024-01-05")
    return town


def accounts(engine, where: str) -> list[str]:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        rows, total = service.list_customers(s, where=where, limit=100)
    assert total == len(rows)
    return [c.account_number[2:6] for c in rows]


CASES = [
    ("status = active", ["1001", "1003", "1004"]),
    ("status = ACTIVE and city = springfield", ["1001"]),
    ("city == 'springfield'", ["1002"]),  # exact match is case-sensitive
    ("city <> Springfield", ["1003", "1004"]),
    ("balance > 100", ["1001", "1004"]),
    ("balance between 30 and 120.00", ["1001", "1002"]),
    ("balance.WA >= 500 or balance.SE > 0", ["1002", "1004"]),
    ("balance.GA = 20", ["1004"]),
    ("zip in (62701, '62702')", ["1001", "1002"]),
    ("last_name starts with 'mc'", ["1002"]),
    ('last_name contains "brien"', ["1001"]),
    ("not online_access = yes", ["1003"]),
    ("collection_code is empty and balance > 0", ["1002", "1004"]),
    ("collection_code is not empty", ["1001"]),
    ("(status = inactive or balance = 0) and city starts with s", ["1002", "1003"]),
    ("business_name contains 'water'", ["1004"]),
    ("last_name = 'x'' or 1=1 --'", []),  # quotes are data, never SQL
    ("last_name contains '%'", []),  # LIKE wildcards are literal
]


@pytest.mark.parametrize(("where", "expected"), CASES, ids=[c[0] for c in CASES])
def test_criteria_select(people, engine, where: str, expected: list[str]) -> None:
    assert accounts(engine, where) == expected


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("colour = red", "unknown field 'colour' at position 1"),
        ("status = ", "expected a value for status at position 10, found the end"),
        ("status active", "expected an operator"),
        ("balance > lots", "'lots' at position 11 is not an amount"),
        ("created_date < 2024-13-01", "is not a date"),
        ("balance.XX > 1", "no service 'XX'"),
        ("(status = active", "expected ')'"),
        ("status = active city = x", "expected 'and', 'or' or the end at position 17"),
        ("balance contains 5", "need a text field"),
        ("status = active; drop", "unexpected ';"),
    ],
)
def test_bad_criteria_name_the_token(people, engine, where: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err, transaction(engine) as s:
        service.list_customers(s, where=where)
    assert message in err.value.message
