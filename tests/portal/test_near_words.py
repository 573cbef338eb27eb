"""Corrections (``near_words``) over a dictionary of a real city's size: the letter-set filter
that spares most of the edit-distance work must never drop a word within the edits allowed."""

from __future__ import annotations

import random
import string

from rapidfuzz.distance import DamerauLevenshtein

from civic.portal.store.search import max_edits, near_words, words_of


def _typo(rnd: random.Random, word: str) -> str:
    letters = list(word)
    for _ in range(rnd.randint(1, 2)):
        i = rnd.randrange(len(letters))
        op = rnd.choice("sidt")
        if op == "s":
            letters[i] = rnd.choice(string.ascii_lowercase)
        elif op == "i":
            letters.insert(i, rnd.choice(string.ascii_lowercase))
        elif op == "d" and len(letters) > 3:
            del letters[i]
        elif op == "t" and i + 1 < len(letters):
            letters[i], letters[i + 1] = letters[i + 1], letters[i]
    return "".join(letters)


def _brute_force(words: dict[str, int], word: str) -> list[tuple[str, int]]:
    """Every dictionary word compared, as the search did before its filter."""
    edits = 2 if len(word) >= 4 else max_edits(word)
    found = []
    for w in words:
        d = DamerauLevenshtein.distance(word, w)
        if w != word and d <= edits and d <= max_edits(word, w):
            found.append((w, d))
    found.sort(key=lambda m: (m[1], -words[m[0]], m[0]))
    return found


def test_corrections_over_a_large_dictionary_equal_comparing_every_word() -> None:
    rnd = random.Random(5)
    # Name-like words over few letters (many share letters, the filter's hard case) and some
    # accented ones, 30,000 in all.
    letters = "aeinorstlmhcd"
    words = {
        "".join(rnd.choice(letters) for _ in range(rnd.randint(3, 11))): rnd.randint(1, 500)
        for _ in range(30_000)
    }
    words.update({"josé": 3, "müller": 4, "nuñez": 2, "obrien": 40, "oneil": 12})
    dictionary = words_of(words)
    queries = [_typo(rnd, rnd.choice(list(words))) for _ in range(300)]
    queries += ["jose", "muller", "nunez", "obrein", "ohnel", "ab", "abc"]
    found_any = 0
    for q in queries:
        got = near_words(dictionary, q)
        want = _brute_force(words, q) if q.isalpha() else []
        # Ties of distance and use may come in either order: compare as sets per distance.
        assert sorted(got, key=lambda m: (m[1], -words[m[0]], m[0])) == want, q
        found_any += bool(want)
    assert found_any > 250  # the typos do land near dictionary words
