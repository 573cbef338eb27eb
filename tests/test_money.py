"""Money parses from what clerks type and prints as 1,234.56; never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civic.money import AmountError, format_cents, parse_amount, to_cents, to_decimal


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("1,234.56", 123456),
        ("$5", 500),
        ("(12.00)", -1200),
        ("-3.10", -310),
        ("0.5", 50),
        (".75", 75),
        ("  42 ", 4200),
        ("-$7.25", -725),
        ("$1,000,000.01", 100000001),
        ("+3", 300),
    ],
)
def test_parse_accepted_forms(text: str, cents: int) -> None:
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1.234",
        "12,34.00",
        "1,2345",
        "$",
        "()",
        "--5",
        "(-5)",
        "1e3",
        "5.",
        "NaN",
        "1 000",
        "$-5$",
        "12.3.4",
    ],
)
def test_parse_refuses_everything_else(text: str) -> None:
    with pytest.raises(AmountError, match="not an amount"):
        parse_amount(text)


def test_format() -> None:
    assert format_cents(123456) == "1,234.56"
    assert format_cents(-310) == "-3.10"
    assert format_cents(5) == "0.05"
    assert format_cents(0) == "0.00"


def test_floats_are_refused() -> None:
    with pytest.raises(AmountError, match="never floats"):
        to_cents(1.5)  # type: ignore[arg-type]
    with pytest.raises(AmountError, match="two decimal places"):
        to_cents(Decimal("1.005"))
    assert to_cents(Decimal("1.50")) == 150
    assert to_decimal(-150) == Decimal("-1.50")


cents = st.integers(min_value=-(10**15), max_value=10**15)


@given(cents)
def test_format_then_parse_round_trips(value: int) -> None:
    assert parse_amount(format_cents(value)) == value


@given(cents)
def test_parenthesised_and_dollar_forms_round_trip(value: int) -> None:
    text = format_cents(abs(value))
    assert parse_amount(f"(${text})") == -abs(value)
    assert parse_amount(f"${text}") == abs(value)


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2))
def test_decimal_round_trip(value: Decimal) -> None:
    assert to_decimal(to_cents(value)) == value
    assert parse_amount(str(value)) == to_cents(value)
