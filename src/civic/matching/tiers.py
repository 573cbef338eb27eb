"""From a scored pair to a suggestion: its tier (merge / review / none), its classification
(duplicate record / same customer, several accounts) and, where it is not offered for merging
though its score is high, the reasons why. Pure: reads the comparison levels only.

A false merge costs far more than a missed duplicate, so the merge tier asks for a high score
AND for none of the hard-negative signs: another first name (household members), another
generational suffix (father and son), a successor at one location (successive tenants),
different identity references, another last name or middle initial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

REVIEW_WEIGHT = 6.0
"""Pairs scoring at least this match weight are suggested for review."""
MERGE_WEIGHT = 12.0
"""Pairs scoring at least this match weight, with no hard-negative sign, are offered for
merging (a match probability of 0.9998 or more)."""

DUPLICATE = "duplicate_record"
SEVERAL_ACCOUNTS = "same_customer_several_accounts"

_SAME_PLACE = frozenset({"exact", "similar street address", "missing"})
_BLOCKERS: dict[tuple[str, str], str] = {
    ("first_name", "different"): "first names differ (household members?)",
    ("first_name", "initial"): "only an initial to compare first names",
    ("first_name", "similar (JW >= 0.85)"): "first names only loosely similar",
    ("suffix", "different"): "generational suffixes differ (father and son?)",
    ("middle_initial", "different"): "middle initials differ",
    ("last_name", "different"): "last names differ",
    ("last_name", "similar (JW >= 0.85)"): "last names only loosely similar",
    ("reference", "different"): "different identity references",
    ("reference", "reference off by one typo"): "identity references differ by one character",
    ("last_name", "swapped with first name"): "first and last names swapped",
    (
        "account",
        "successor at one location (earlier account inactive)",
    ): "successive occupants of one location",
}


@dataclass(frozen=True)
class Suggestion:
    tier: str | None
    classification: str
    reasons: tuple[str, ...]


def probability(weight: float) -> float:
    return 1.0 / (1.0 + math.pow(2.0, -weight))


def classify(levels: Mapping[str, str]) -> str:
    """Same service place (or account location) -> a duplicate record; else the same customer
    holding several accounts (link them, never merge)."""
    if levels.get("account") == "same location, both active":
        return DUPLICATE
    if levels.get("address") == "same street address, one without unit":
        # a building's master account and a unit's: the same place only at one location
        return DUPLICATE if levels.get("account", "missing") == "missing" else SEVERAL_ACCOUNTS
    if levels.get("address", "missing") in _SAME_PLACE:
        return DUPLICATE
    return SEVERAL_ACCOUNTS


def suggest(
    weight: float,
    levels: Mapping[str, str],
    *,
    review_weight: float = REVIEW_WEIGHT,
    merge_weight: float = MERGE_WEIGHT,
) -> Suggestion:
    """``levels``: comparison name -> the label of the level the pair fell in."""
    classification = classify(levels)
    reasons = [why for key, why in _BLOCKERS.items() if levels.get(key[0]) == key[1]]
    if classification == SEVERAL_ACCOUNTS:
        reasons.append("different service addresses: link the accounts, do not merge")
    if levels.get("first_name") == "missing" and levels.get("business_name") == "missing":
        reasons.append("no name to compare")
    if weight < review_weight:
        return Suggestion(None, classification, tuple(reasons))
    if weight >= merge_weight and not reasons:
        return Suggestion("merge", classification, ())
    if weight >= merge_weight:
        return Suggestion("review", classification, tuple(reasons))
    return Suggestion("review", classification, tuple(reasons))
