"""People and places of the sample town, and the small ways a clerk writes the same person or
the same address differently (the variations the planted duplicates are made of).

Everything takes a ``random.Random`` and is pure: the same generator state gives the same
person, address or variation.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from random import Random

from civic.demo.names import (
    DIRECTIONS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    STREET_NAMES,
    STREET_TYPES,
)

CITY = "Maple Falls"
STATE = "OR"
ZIPS: tuple[str, ...] = ("97471", "97472", "97473", "97474", "97475")
AREA_CODES: tuple[str, ...] = ("541", "458")
PHONE_STYLES: tuple[str, ...] = ("paren", "dash", "dot", "plain")


def _rank_weights(count: int, flatten: float) -> list[float]:
    """Cumulative Zipf-like weights: rank ``r`` is drawn in proportion to 1/(r + flatten)."""
    return list(itertools.accumulate(1.0 / (rank + flatten) for rank in range(count)))


_FIRST_CUM = _rank_weights(len(FIRST_NAMES), 8.0)
_LAST_CUM = _rank_weights(len(LAST_NAMES), 4.0)
NICKNAMES: dict[str, str] = {formal: nick for formal, nick in FIRST_NAMES if nick}
PUNCTUATED_LAST: tuple[str, ...] = tuple(
    n for n in LAST_NAMES if any(ch in n for ch in "'- ") or n.startswith(("Mc", "Mac"))
)


@dataclass(frozen=True, slots=True)
class Street:
    predir: str | None
    name: str
    kind: str
    zip: str
    first_number: int = 100


@dataclass(frozen=True, slots=True)
class Address:
    number: int
    street: Street
    unit: str | None = None

    def format(self, *, long_dir: bool = False, long_type: bool = False, unit: str = "Apt") -> str:
        """``1423 N Maple St Apt 3``; long forms give ``North`` / ``Street``; ``unit`` is the
        unit style: ``Apt`` (``Apt 3``), ``#`` (``#3``) or ``Unit`` (``Unit 3``)."""
        parts = [str(self.number)]
        if self.street.predir:
            parts.append(DIRECTIONS[self.street.predir] if long_dir else self.street.predir)
        parts.append(self.street.name)
        parts.append(STREET_TYPES[self.street.kind] if long_type else self.street.kind)
        if self.unit:
            parts.append(f"#{self.unit}" if unit == "#" else f"{unit} {self.unit}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Person:
    first: str | None
    middle: str | None
    last: str | None
    suffix: str | None = None
    business: str | None = None
    phone: str | None = None
    email: str | None = None
    ssr: str | None = None


def town_streets(seed: int) -> tuple[Street, ...]:
    """The town's streets: each name with one type; some split into N/S or E/W halves."""
    rng = Random(f"civic-demo:{seed}:streets")
    streets: list[Street] = []
    for name in STREET_NAMES:
        kind = rng.choice(tuple(STREET_TYPES))
        roll = rng.random()
        if roll < 0.25:
            directions: tuple[str | None, ...] = rng.choice((("N", "S"), ("E", "W")))
        elif roll < 0.40:
            directions = (rng.choice(tuple(DIRECTIONS)),)
        else:
            directions = (None,)
        streets.extend(
            Street(d, name, kind, rng.choice(ZIPS), 100 * rng.randint(1, 40)) for d in directions
        )
    return tuple(streets)


def first_name(rng: Random) -> str:
    return rng.choices(FIRST_NAMES, cum_weights=_FIRST_CUM)[0][0]


def last_name(rng: Random) -> str:
    return rng.choices(LAST_NAMES, cum_weights=_LAST_CUM)[0]


def middle_name(rng: Random) -> str | None:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice("ABCDEFGHJKLMNPRSTW")
    if roll < 0.45:
        return first_name(rng)
    return None


def phone_digits(rng: Random) -> str:
    exchange = rng.randint(201, 998)
    if exchange == 555:
        exchange = 556
    return f"{rng.choice(AREA_CODES)}{exchange}{rng.randint(0, 9999):04d}"


def format_phone(digits: str, style: str) -> str:
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    if style == "paren":
        return f"({area}) {exchange}-{line}"
    if style == "dash":
        return f"{area}-{exchange}-{line}"
    if style == "dot":
        return f"{area}.{exchange}.{line}"
    return digits


def email_for(rng: Random, first: str, last: str) -> str:
    local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isalnum() or ch == ".")
    if rng.random() < 0.5:
        local += str(rng.randint(1, 99))
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def ssr_value(serial: int) -> str:
    """A social services reference ``SSR-1234567``, distinct for distinct ``serial``s below
    9,000,000 (a fixed permutation, so neighbouring serials do not look alike)."""
    return f"SSR-{(serial * 7919 + 1234567) % 9_000_000 + 1_000_000}"


def person(rng: Random, *, first: str | None = None, last: str | None = None) -> Person:
    """A resident: name, a phone for most, an e-mail address for about half."""
    first = first or first_name(rng)
    last = last or last_name(rng)
    phone = phone_digits(rng) if rng.random() < 0.85 else None
    email = email_for(rng, first, last) if rng.random() < 0.55 else None
    return Person(first=first, middle=middle_name(rng), last=last, phone=phone, email=email)


# -- variations: the same value written another way -------------------------------------------

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbour(ch: str, rng: Random) -> str:
    lower = ch.lower()
    for row in _KEYBOARD_ROWS:
        i = row.find(lower)
        if i >= 0:
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            out = rng.choice(near)
            return out.upper() if ch.isupper() else out
    return ch


def typo(rng: Random, word: str) -> str:
    """One slip of the finger: a neighbouring key, a dropped or a doubled letter (never the
    first letter, never the same word back)."""
    for _ in range(20):
        i = rng.randint(1, len(word) - 1)
        if not word[i].isalpha():
            continue
        how = rng.choice(("neighbour", "drop", "double"))
        if how == "neighbour":
            out = word[:i] + _neighbour(word[i], rng) + word[i + 1 :]
        elif how == "drop" and len(word) > 3:
            out = word[:i] + word[i + 1 :]
        else:
            out = word[:i] + word[i] + word[i:]
        if out != word:
            return out
    return word + word[-1]


def transpose(rng: Random, word: str) -> str:
    """Two neighbouring letters swapped (Micheal for Michael); never the same word back."""
    spots = [
        i for i in range(len(word) - 1) if word[i] != word[i + 1] and word[i : i + 2].isalpha()
    ]
    inner = [i for i in spots if i > 0] or spots
    i = rng.choice(inner)
    swapped = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return swapped[0].upper() + swapped[1:].lower() if word[0].isupper() else swapped


def strip_punctuation(rng: Random, last: str) -> str:
    """O'Brien -> OBrien or O Brien; Smith-Jones -> Smith Jones; Van Buren -> VanBuren;
    McDonald -> Mc Donald."""
    if "'" in last:
        return last.replace("'", rng.choice(("", " ")))
    if "-" in last:
        return last.replace("-", rng.choice((" ", "")))
    if " " in last:
        return last.replace(" ", "")
    prefix = "Mac" if last.startswith("Mac") else "Mc"
    return f"{prefix} {last[len(prefix) :]}"
