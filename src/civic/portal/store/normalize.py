"""Text folding for search, shared by indexing and querying so both see the same words.

``fold("Jane O'Brien-Smith")`` is ``"jane obrien smith"``: accents dropped, lower case,
apostrophes and dots removed (``O'Brien`` and ``OBrien`` are one word), other punctuation a
space. Account numbers have several spellings (``1234``, ``001234-01``, ``00123401``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_JOIN = re.compile(r"['\u2019`.]")
_SPLIT = re.compile(r"[^a-z0-9]+")
_DASHED = re.compile(r"^(\d{1,6})\s*-\s*(\d{1,2})$")
_DIGITS = re.compile(r"^[\d\s().+-]+$")


def fold(text: str | None) -> str:
    if not text:
        return ""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch)).lower()
    plain = _JOIN.sub("", plain)
    return " ".join(t for t in _SPLIT.split(plain) if t)


def words(text: str | None) -> list[str]:
    return fold(text).split()


def digits(text: str | None) -> str:
    return "".join(ch for ch in text or "" if ch.isdigit())


def account_forms(account_number: str) -> tuple[str, int]:
    """``001234-01`` -> (``00123401``, 1234): the packed form and the location number."""
    location, _, occupant = account_number.partition("-")
    return location + occupant, int(location)


def account_text(account_number: str) -> str:
    """What the index holds for an account number: its dashed and packed forms."""
    packed, location = account_forms(account_number)
    return f"{account_number} {packed} {location}"


@dataclass(frozen=True)
class NumberQuery:
    """A query made of digits: an account number in some spelling, or a phone number."""

    text: str
    digits: str
    account: str | None
    """The full account number when the query spells one (``1234-1``, ``00123401``)."""
    location: int | None
    """The service location when the query could be one (up to six digits)."""


def number_query(text: str) -> NumberQuery | None:
    """The query as a number, or None when it holds letters."""
    text = text.strip()
    if not text or not _DIGITS.match(text):
        return None
    only = digits(text)
    if not only:
        return None
    account: str | None = None
    location: int | None = None
    dashed = _DASHED.match(text)
    if dashed and int(dashed.group(2)) > 0:
        account = f"{dashed.group(1).zfill(6)}-{dashed.group(2).zfill(2)}"
    elif len(only) == 8 and int(only[6:]) > 0:
        account = f"{only[:6]}-{only[6:]}"
    if len(only) <= 6:
        location = int(only)
    return NumberQuery(text=text, digits=only, account=account, location=location)
