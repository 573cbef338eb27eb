from __future__ import annotations

import pytest

from civic.errors import InvalidInput
from civic.ledger.accounts import parse_account_number
from civic.ledger.periods import period_end_for, previous_period_end


@pytest.mark.parametrize("text", ["001234-01", "1234-1", "00123401", " 1234 - 01 "])
def test_account_number_formats(text: str) -> None:
    number = parse_account_number(text)
    assert str(number) == "001234-01"
    assert (number.location, number.occupant) == ("001234", "01")


@pytest.mark.parametrize("text", ["", "1234", "abc-01", "1234567-01", "001234-00", "0012340"])
def test_bad_account_numbers_name_the_field(text: str) -> None:
    with pytest.raises(InvalidInput, match="account_number"):
        parse_account_number(text)


def test_period_ends() -> None:
    from datetime import date

    assert period_end_for(date(2011, 2, 3)) == date(2011, 2, 28)
    assert period_end_for(date(2012, 2, 3)) == date(2012, 2, 29)
    assert period_end_for(date(2011, 5, 1), 3) == date(2011, 6, 30)
    assert previous_period_end(date(2011, 1, 31)) == date(2010, 12, 31)
    assert previous_period_end(date(2011, 3, 31), 2) == date(2011, 1, 31)
