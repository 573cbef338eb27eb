"""Benchmark: the search's typo corrections (``near_words``) as the dictionary grows.

The sample town's store has a small dictionary (4,756 words for a million customers: its
generator draws names and streets from short lists); a real city's holds far more (surnames
alone run to tens of thousands). This measures, in one process and one run, the corrections
of the same typed words against dictionaries of growing size, with the letter-set filter
(``letter_masks``, today's code) and without it (every word of a near length compared, the
code before it), and checks that both give the same corrections.

The dictionary is the store's words plus made-up name-like words (letters drawn from the
frequencies of the store's words, lengths 3-12); the typed words are the store's words with one
or two random edits (substitution, insertion, deletion, swap).

    .venv/bin/python bench/bench_corrections.py --store /tmp/civic_bench_search/portal-1000000.db
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import string
import time
from collections import Counter
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from civic.db import make_engine, read_only
from civic.portal.store.search import DICTIONARY, _Words, max_edits, near_words, words_of


def brute_force(words: _Words, word: str) -> list[tuple[str, int]]:
    """``near_words`` as it was before the filter: every word of a near length compared."""
    edits = 2 if len(word) >= 4 else max_edits(word)
    if not edits or not word.isalpha():
        return []
    keys: list[str] = []
    for n in range(len(word) - edits, len(word) + edits + 1):
        keys.extend(words.by_length.get(n, ()))
    found = process.extract(
        word, keys, scorer=DamerauLevenshtein.distance, score_cutoff=edits, limit=None
    )
    ranked = [(w, int(d)) for w, d, _i in found if w != word and d <= max_edits(word, w)]
    ranked.sort(key=lambda m: (m[1], -words.uses.get(m[0], 0)))
    return ranked


def typo(rnd: random.Random, word: str) -> str:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="A portal store (SQLite).")
    parser.add_argument(
        "--size", type=int, action="append", help="Dictionary sizes (default 50k, 200k)."
    )
    parser.add_argument("--words", type=int, default=500, help="Typed words per size.")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    engine = make_engine(f"sqlite:///{args.store}")
    with read_only(engine) as s:
        store = dict(DICTIONARY.get(s).uses)
    engine.dispose()
    rnd = random.Random(args.seed)
    freq = Counter("".join(store))
    alphabet, weights = zip(*freq.items(), strict=True)
    typed = [typo(rnd, rnd.choice(sorted(store))) for _ in range(args.words)]
    out = []
    for size in [len(store), *(args.size or [50_000, 200_000])]:
        uses = dict(store)
        while len(uses) < size:
            word = "".join(rnd.choices(alphabet, weights, k=rnd.randint(3, 12)))
            uses.setdefault(word, rnd.randint(1, 50))
        words = words_of(uses)
        times: dict[str, list[float]] = {"filter": [], "every word": []}
        same = 0
        for w in typed:
            words.near.clear()  # measure the work, not the memo
            t0 = time.perf_counter()
            got = near_words(words, w)
            times["filter"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            want = brute_force(words, w)
            times["every word"].append((time.perf_counter() - t0) * 1000)
            same += sorted(got) == sorted(want)
        out.append(
            {
                "dictionary_words": len(uses),
                "typed_words": len(typed),
                "same_corrections": same,
                **{
                    f"{label}_ms": {
                        "p50": round(statistics.median(v), 3),
                        "p95": round(sorted(v)[int(0.95 * (len(v) - 1))], 3),
                    }
                    for label, v in times.items()
                },
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
