"""From comparison levels to a suggestion: the merge tier needs a high score and no
hard-negative sign; the classification follows the service place."""

from __future__ import annotations

from civic.matching import tiers

SAME = {
    "reference": "missing",
    "first_name": "exact",
    "middle_initial": "exact",
    "last_name": "exact",
    "suffix": "neither has one",
    "business_name": "missing",
    "address": "exact",
    "account": "different",
}


def test_a_strong_clean_pair_is_offered_for_merging() -> None:
    s = tiers.suggest(20.0, SAME)
    assert s == tiers.Suggestion("merge", tiers.DUPLICATE, ())
    assert tiers.probability(20.0) > 0.999


def test_each_hard_negative_sign_keeps_a_pair_in_review() -> None:
    signs = {
        "first_name": "different",
        "suffix": "different",
        "middle_initial": "different",
        "reference": "different",
        "account": "successor at one location (earlier account inactive)",
    }
    for comparison, level in signs.items():
        s = tiers.suggest(40.0, {**SAME, comparison: level})
        assert s.tier == "review" and s.reasons, comparison


def test_another_service_place_is_several_accounts_never_merge() -> None:
    s = tiers.suggest(40.0, {**SAME, "address": "different"})
    assert s.classification == tiers.SEVERAL_ACCOUNTS and s.tier == "review"
    building = {**SAME, "address": "same street address, one without unit"}
    assert tiers.classify(building) == tiers.SEVERAL_ACCOUNTS
    assert tiers.classify({**building, "account": "missing"}) == tiers.DUPLICATE
    assert tiers.classify(
        {**SAME, "address": "different", "account": "same location, both active"}
    ) == (tiers.DUPLICATE)


def test_low_scores_are_not_suggested() -> None:
    assert tiers.suggest(tiers.REVIEW_WEIGHT - 0.01, SAME).tier is None
    assert tiers.suggest(tiers.REVIEW_WEIGHT, SAME).tier == "review"
    assert tiers.suggest(tiers.MERGE_WEIGHT, SAME).tier == "merge"
