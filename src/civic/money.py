"""Money: integer cents in storage, ``Decimal`` only at the parse and format edges.

``parse_amount`` is the one place text becomes money and ``format_cents`` the one place money
becomes text. Floats are refused outright.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import NewType

Cents = NewType("Cents", int)
"""An amount of money in integer cents (negative for credits)."""

_PLAIN = r"\d+"
_GROUPED = r"\d{1,3}(?:,\d{3})+"
_NUMBER = re.compile(rf"^(?:{_GROUPED}|{_PLAIN})(?:\.(\d{{1,2}}))?$|^\.(\d{{1,2}})$")


class AmountError(ValueError):
    """Text that is not an amount of money; the message says what was expected."""


def parse_amount(text: str) -> Cents:
    """Parse ``1,234.56``, ``$5``, ``(12.00)``, ``-3.10`` (and ``+``/``-$`` forms) into cents.

    Parentheses mean a negative amount, as on printed statements. At most two decimal places;
    thousands separators must group by three. Anything else raises :class:`AmountError`.
    """
    if not isinstance(text, str):
        raise AmountError(f"amount must be text, not {type(text).__name__}")
    raw = text.strip()
    s = raw
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    if s[:1] in "+-" and s:
        if s[0] == "-":
            if negative:
                raise AmountError(f"not an amount: {raw!r} (two minus signs)")
            negative = True
        s = s[1:].strip()
    if s.startswith("$"):
        s = s[1:].strip()
    if not s or not _NUMBER.match(s):
        raise AmountError(f"not an amount: {raw!r} (expected e.g. 1,234.56, $5, (12.00) or -3.10)")
    cents = int((Decimal(s.replace(",", "")) * 100).to_integral_exact())
    return Cents(-cents if negative else cents)


def to_cents(value: Decimal | int | str) -> Cents:
    """Convert a ``Decimal`` (exact, at most 2 places), an ``int`` of dollars or text to cents."""
    if isinstance(value, bool) or isinstance(value, float):
        raise AmountError("amounts are never floats: pass a string or a Decimal")
    if isinstance(value, str):
        return parse_amount(value)
    if isinstance(value, int):
        return Cents(value * 100)
    try:
        scaled = value * 100
        if scaled != scaled.to_integral_value():
            raise AmountError(f"more than two decimal places: {value}")
        return Cents(int(scaled))
    except InvalidOperation as exc:
        raise AmountError(f"not an amount: {value}") from exc


def to_decimal(cents: int) -> Decimal:
    """Cents as an exact ``Decimal`` of dollars (for JSON and reports)."""
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def format_cents(cents: int) -> str:
    """Format cents as ``1,234.56`` (``-1,234.56`` for a credit)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{frac:02d}"
