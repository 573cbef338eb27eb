"""Field parsers shared by the CLI, the API and imports; each error names the field."""

from __future__ import annotations

import re
from datetime import date, datetime

from civic.errors import InvalidInput
from civic.money import AmountError, Cents, parse_amount

_TRUE = {"y", "yes", "true", "t", "1"}
_FALSE = {"n", "no", "false", "f", "0"}
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_bool(text: str | bool, field: str) -> bool:
    if isinstance(text, bool):
        return text
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInput(f"{field}: {text!r} is not yes/no", field=field)


def parse_date(text: str | date, field: str) -> date:
    """ISO ``2024-01-31`` or US ``1/31/2024``."""
    if isinstance(text, date):
        return text
    value = text.strip()
    try:
        m = _US_DATE.match(value)
        if m:
            month, day, year = (int(g) for g in m.groups())
            return date(year, month, day)
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(
            f"{field}: {text!r} is not a date (expected 2024-01-31 or 1/31/2024)", field=field
        ) from None


def parse_money(text: str, field: str) -> Cents:
    try:
        return parse_amount(text)
    except AmountError as exc:
        raise InvalidInput(f"{field}: {exc}", field=field) from None


def blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None
