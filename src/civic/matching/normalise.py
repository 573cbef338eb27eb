"""Normalisation before comparison: the ways a clerk writes the same name, address, phone,
e-mail or reference differently are folded into one form, so the model compares like with
like. Pure functions, no I/O.

- names: case, punctuation (O'Brien / OBrien), hyphens and spaces (Smith-Jones / Smith Jones),
  Mc/Mac (Mc Donald / McDonald), suffixes (Jr, Sr, III) split out of the name, nicknames
  (Bob / Robert, from the ``nicknames`` package);
- addresses: USPS abbreviations (Street / St, North / N, from usaddress-scourgify's tables),
  unit designators (``#3`` / ``Apt 3`` / ``Unit 3`` give unit ``3``), ZIP+4 to ZIP5; anything
  beyond a plain ``number [dir] name type [unit]`` line goes through scourgify, with the token
  rules as the fallback when scourgify refuses the address;
- phone numbers to their last ten digits, e-mail to lower case, external references through
  the ledger's own normaliser (``SSR-1234567`` = `` ssr 1234567``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from nicknames import NickNamer
from scourgify import normalize_address_record  # type: ignore[import-untyped]
from scourgify.address_constants import (  # type: ignore[import-untyped]
    DIRECTIONAL_REPLACEMENTS,
    OCCUPANCY_TYPE_ABBREVIATIONS,
    STREET_TYPE_ABBREVIATIONS,
)
from scourgify.exceptions import AddressNormalizationError  # type: ignore[import-untyped]

from civic.ledger.customers import normalize_ref

SUFFIXES: dict[str, str] = {
    "JR": "jr",
    "JNR": "jr",
    "JUNIOR": "jr",
    "SR": "sr",
    "SNR": "sr",
    "SENIOR": "sr",
    "II": "ii",
    "2ND": "ii",
    "III": "iii",
    "3RD": "iii",
    "IV": "iv",
    "4TH": "iv",
    "V": "v",
}
"""Generational suffixes, written any way, to one form."""

_DIRECTIONS: dict[str, str] = {
    **{k: v for k, v in DIRECTIONAL_REPLACEMENTS.items()},
    **{v: v for v in DIRECTIONAL_REPLACEMENTS.values()},
}
_STREET_TYPES: dict[str, str] = dict(STREET_TYPE_ABBREVIATIONS)
_UNIT_WORDS: dict[str, str] = {
    **{k: v for k, v in OCCUPANCY_TYPE_ABBREVIATIONS.items() if k != "#"},
    **{v: v for v in OCCUPANCY_TYPE_ABBREVIATIONS.values() if v != "#"},
    "NO": "#",
}
_UNIT_LABELS = frozenset({"APT", "UNIT", "#", "STE", "RM", "SPC", "LOT", "TRLR", "FL", "BLDG"})
"""Designators that only say "unit": ``Apt 3``, ``Unit 3`` and ``#3`` are one unit."""

_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
_TOKEN = re.compile(r"#|[0-9A-Z]+(?:[/-][0-9A-Z]+)*")
_DIGITS = re.compile(r"\D+")
_ZIP = re.compile(r"^\s*(\d{5})(?:[\s-]*\d{4})?\s*$")
_PLAIN_LINE = re.compile(r"^\d+[A-Z]?(?: [0-9A-Z]+){2,6}$")


def _ascii_upper(text: str) -> str:
    """Upper case, accents dropped (José -> JOSE), apostrophes removed (O'Brien -> OBRIEN)."""
    if text.isascii():
        plain = text
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return plain.upper().replace("'", "").replace("\u2019", "").replace("`", "")


# -- names ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonName:
    first: str | None
    middle_initial: str | None
    last: str | None
    suffix: str | None


def normalise_suffix(text: str | None) -> str | None:
    """``Jr.`` / ``JR`` / ``junior`` -> ``jr``; ``III`` / ``3rd`` -> ``iii``; unknown -> None."""
    if not text:
        return None
    key = _NON_ALNUM.sub("", _ascii_upper(text))
    return SUFFIXES.get(key)


def _split_suffix(words: list[str]) -> tuple[list[str], str | None]:
    if len(words) > 1 and words[-1] in SUFFIXES:
        return words[:-1], SUFFIXES[words[-1]]
    return words, None


def _name_words(text: str | None) -> list[str]:
    return list(_words(text)) if text else []


@functools.lru_cache(maxsize=200_000)
def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in _NON_ALNUM.split(_ascii_upper(text)) if w)


@functools.lru_cache(maxsize=200_000)
def normalise_last_name(text: str | None) -> str | None:
    """One comparable form of a surname: ``O'Brien``, ``OBrien`` and ``o brien`` give
    ``obrien``; ``Smith-Jones`` and ``Smith Jones`` give ``smithjones``; ``Mc Donald`` and
    ``McDonald`` give ``mcdonald``. A trailing suffix (``Smith Jr``) is dropped."""
    words, _ = _split_suffix(_name_words(text))
    joined = "".join(words).lower()
    return joined or None


@functools.lru_cache(maxsize=200_000)
def normalise_first_name(text: str | None) -> str | None:
    """Lower case, letters and digits only (``Mary-Ann`` -> ``maryann``)."""
    words, _ = _split_suffix(_name_words(text))
    joined = "".join(words).lower()
    return joined or None


def person_name(
    first: str | None, middle: str | None, last: str | None, suffix: str | None
) -> PersonName:
    """The normalised parts of a person's name; a suffix written into the last or first name
    field (``Smith Jr``) is split out when the suffix field is empty."""
    sfx = normalise_suffix(suffix)
    if sfx is None:
        _, sfx = _split_suffix(_name_words(last))
    if sfx is None:
        _, sfx = _split_suffix(_name_words(first))
    middle_words = _name_words(middle)
    return PersonName(
        first=normalise_first_name(first),
        middle_initial=middle_words[0][0].lower() if middle_words else None,
        last=normalise_last_name(last),
        suffix=sfx,
    )


@functools.cache
def _namer() -> NickNamer:
    return NickNamer()


@functools.lru_cache(maxsize=20_000)
def nickname_forms(first: str | None) -> tuple[str, ...]:
    """The names directly related to ``first`` as nickname or formal name (``bob`` ->
    ``robert``, ``rob``, ...), sorted. Two first names are nickname-equal when one is among the
    other's forms: a direct relation only, so ``christopher`` and ``christina`` (who share the
    nickname ``chris``) are not."""
    if not first:
        return ()
    namer = _namer()
    forms = set(namer.nicknames_of(first)) | set(namer.canonicals_of(first))
    forms.discard(first)
    return tuple(sorted(forms))


def nickname_equal(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a == b or b in nickname_forms(a) or a in nickname_forms(b)


_BUSINESS_NOISE = frozenset({"THE", "INC", "LLC", "LTD", "CO", "CORP", "CORPORATION", "COMPANY"})


def normalise_business_name(text: str | None) -> str | None:
    """``The Acme Co.`` and ``ACME`` give ``acme``; ``&`` and ``and`` are one."""
    if not text:
        return None
    words = [w for w in _name_words((text or "").replace("&", " AND ")) if w not in _BUSINESS_NOISE]
    joined = " ".join(words).lower()
    return joined or None


# -- addresses --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    street: str | None
    """House number, directional, street name and type, USPS style in lower case."""
    unit: str | None
    """The unit designator's value only (``Apt 3`` / ``#3`` / ``Unit 3`` -> ``3``); a
    designator other than apartment/unit/# is kept (``bsmt``)."""

    @property
    def full(self) -> str | None:
        if not self.street:
            return None
        return f"{self.street} #{self.unit}" if self.unit else self.street


def _tokens(line: str) -> list[str]:
    return _TOKEN.findall(_ascii_upper(line).replace(".", " ").replace(",", " "))


def _split_unit(tokens: list[str]) -> tuple[list[str], str | None]:
    """Street tokens and the unit: the part from the first unit designator (or ``#``) on."""
    for i, tok in enumerate(tokens):
        if i == 0:
            continue
        if tok.startswith("#") or tok in _UNIT_WORDS:
            designator = _UNIT_WORDS.get(tok, "#")
            rest = tokens[i + 1 :]
            if not rest and designator in _UNIT_LABELS:
                continue
            value = "".join(rest).lstrip("#")
            if designator in _UNIT_LABELS:
                return tokens[:i], value.lower() or None
            return tokens[:i], f"{designator} {value}".strip().lower()
    return tokens, None


def _street_tokens(tokens: list[str]) -> list[str]:
    """USPS forms: the directional after the number and the street type at the end."""
    out = list(tokens)
    if len(out) >= 3 and out[1] in _DIRECTIONS:
        out[1] = _DIRECTIONS[out[1]]
    if len(out) >= 3 and out[-1] in _STREET_TYPES:
        out[-1] = _STREET_TYPES[out[-1]]
    elif len(out) >= 4 and out[-1] in _DIRECTIONS and out[-2] in _STREET_TYPES:
        out[-2], out[-1] = _STREET_TYPES[out[-2]], _DIRECTIONS[out[-1]]
    return out


def token_address(line: str) -> Address:
    """The token rules alone (the fallback when scourgify refuses a line)."""
    tokens, unit = _split_unit(_tokens(line))
    street = " ".join(_street_tokens(tokens)).lower()
    return Address(street or None, unit)


@functools.lru_cache(maxsize=50_000)
def normalise_address(line: str | None) -> Address:
    """The street and unit of an address line.

    A plain line (``1423 North Maple Street Apt 3``) is normalised by the token rules, which
    give what scourgify gives for such a line, fast; other lines go through scourgify, and
    back to the token rules when scourgify refuses them (a PO box, a rural route, a line it
    cannot parse)."""
    if not line or not line.strip():
        return Address(None, None)
    plain = token_address(line)
    if plain.street and _PLAIN_LINE.match(plain.street.upper()):
        return plain
    try:
        parsed = normalize_address_record(line)
    except (AddressNormalizationError, ValueError, TypeError, KeyError, IndexError):
        return plain
    first = parsed.get("address_line_1")
    if not first:
        return plain
    second = parsed.get("address_line_2")
    tokens, unit = _split_unit(_tokens(first + (" " + second if second else "")))
    street = " ".join(_street_tokens(tokens)).lower()
    return Address(street or plain.street, unit)


def normalise_zip(text: str | None) -> str | None:
    """``97471-1234`` / ``974711234`` / ``97471`` -> ``97471``; anything else -> None."""
    if not text:
        return None
    compact = text.strip()
    match = _ZIP.match(compact)
    if match:
        return match.group(1)
    digits = _DIGITS.sub("", compact)
    return digits[:5] if len(digits) in (5, 9) else None


# -- contact details and references ---------------------------------------------------------------


def normalise_phone(text: str | None) -> str | None:
    """The last ten digits (``(541) 555-0123``, ``+1 541.555.0123`` -> ``5415550123``);
    fewer than seven digits is no phone number."""
    if not text:
        return None
    digits = _DIGITS.sub("", text)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) < 7:
        return None
    return digits[-10:]


def normalise_email(text: str | None) -> str | None:
    if not text:
        return None
    email = text.strip().lower()
    return email if "@" in email else None


def normalise_reference(ref_type: str, value: str) -> str | None:
    """``ssr`` + ``SSR-1234567`` -> ``ssr:SSR1234567``: the ledger's own normaliser, so
    matching and the ledger's look-up by reference agree."""
    normalised = normalize_ref(value or "")
    if not normalised:
        return None
    return f"{ref_type.strip().lower()}:{normalised}"
