"""Staff search over the store: names, partial names, account numbers in any spelling, service
address fragments and phone numbers, tolerant of typos and punctuation.

1. The query is folded like the index (``O'Brien`` and ``OBrien`` are one word).
2. A query of digits is an account number (``1234``, ``1234-1``, ``001234-01``, ``00123401``)
   or a phone number: exact look-ups first, then substring candidates. A merged-away account
   number leads to the survivor.
3. Words: each word of three letters or more stands for the dictionary words it may mean: the
   word itself, the words it begins (a partial name) and the words within one or two edits
   (``rapidfuzz`` Damerau-Levenshtein distance, a swap counting as one, over the store's small
   typo dictionary held in memory). The words as typed are tried first; their corrections too
   unless ten results already meet every word as typed.
4. The dictionary knows how many customers use each word, so candidates come from the word
   table (exact B-tree look-ups): all the customers of the rarest word when they are few,
   whatever the other words; else those of them with a name word that is (or begins with) the
   next rarest word or one of its corrections, filtered by the database as it reads.
5. When every word is too common for that (``john smith``), or none is known, candidates come
   from the trigram index instead: every fragment, then the fragments as a phrase and close
   together; any fragment only as a last resort.
6. Candidates are ranked word by word: each query word scores its best match among the
   candidate's name words (equal, a word it begins, a typo within the edits allowed, else a
   weak similarity) and, a little lower, address words; the query's words joined
   (``o brien``) count too.

Results are limited to the communities passed in (``None``: every community); residents'
search shows only visible records (eligible and not merged away).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from civic.portal.store import index
from civic.portal.store.normalize import NumberQuery, fold, number_query
from civic.portal.store.tables import PortalCustomer, PortalWord

CANDIDATES = 100
"""Candidates a number query takes from the trigram index."""
BUDGET = 5000
"""Word-table rows a query may read (the customers of its rarest words)."""
FEW = 500
"""Customers of a word read whatever the query's other words."""
POOL = 300
"""Candidates a trigram query may fetch (when every word is common)."""
SCAN = 100_000
"""Word-table rows a query may scan in the database for customers holding a second word."""
FILTERS = 2
"""Corrections of that second word looked for."""
RARE = 20
"""A dictionary word this many times rarer than a close neighbour may be a typo of it."""
DONE = 96.0
"""Corrections are tried unless as many results as asked for score at least this from the
words as typed (``Douglas Jenknis`` is a real customer; Douglas Jenkins may still be meant)."""
SPLIT_BELOW = 80.0
"""A word is cut in two (a double name typed as one) only when fewer results than asked for
score this much with the corrections (a typo in each word scores about 85)."""
PREFIXES = 60
"""Dictionary words a partial word may stand for (the most used)."""
EXTRA = 0.004
"""What a name word the query does not mention costs (of a score of 1)."""
ORDER = 0.01
"""What a name costs whose words the query's met in another order (of a score of 1)."""
JOINED = 0.99
"""Two name words joined meet a query word a little less well than one word would (``Susan
NguyenTr``: NguyenTran before Nguyen-Tran)."""
JOINED_MIN = 6
"""Letters a query word needs to be compared with two name words joined."""
ORDERED = 0.6
"""How well a query word must meet a name word for its place to count in the order."""
DICTIONARY_TTL = 30.0
"""Seconds a process keeps the typo dictionary before reloading it."""
NEAR_CACHE = 50_000
"""Words whose corrections a copy of the dictionary remembers (then it starts again)."""


@dataclass(frozen=True)
class Hit:
    customer_id: int
    community: str
    account_number: str
    display_name: str
    service_address: str | None
    score: float
    visible: bool
    eligible: bool
    ineligible_reason: str | None
    merged_into_account: str | None
    via: str | None = None
    """How it was reached when not directly (``merged account 001234-01``)."""


@dataclass(frozen=True)
class SearchPlan:
    """What the search did: shown by ``explain`` and useful when tuning."""

    fragments: tuple[str, ...]
    corrected: tuple[str, ...]
    loosened: bool


@dataclass(frozen=True)
class _Words:
    uses: dict[str, int]
    ordered: list[str]
    """Every word, sorted (the words a prefix begins are one slice)."""
    by_length: dict[int, list[str]]
    masks: dict[int, npt.NDArray[np.uint32]] = field(default_factory=dict, compare=False)
    """The letters of each word of ``by_length[n]`` as bits (``letter_masks``), same order."""
    near: dict[str, list[tuple[str, int]]] = field(default_factory=dict, compare=False)
    """``near_words`` already worked out, by word (common names recur from query to query);
    kept as long as this copy of the dictionary."""


class Dictionary:
    """The store's words with their use counts, held in memory for a short while, sorted (for
    prefixes) and grouped by length (a word within two edits of another is at most two letters
    longer or shorter)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, _Words]] = {}

    def get(self, session: Session) -> _Words:
        key = session.get_bind().engine.url.render_as_string(hide_password=True)
        with self._lock:
            cached = self._cache.get(key)
            if cached and time.monotonic() - cached[0] < DICTIONARY_TTL:
                return cached[1]
        uses = {w: n for w, n in session.execute(select(PortalWord.word, PortalWord.uses))}
        entry = words_of(uses)
        with self._lock:
            self._cache[key] = (time.monotonic(), entry)
        return entry

    def words(self, session: Session) -> tuple[dict[str, int], list[str]]:
        entry = self.get(session)
        return entry.uses, entry.ordered

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


DICTIONARY = Dictionary()


def letter_masks(words: Sequence[str]) -> npt.NDArray[np.uint32]:
    """For words of one length: each word's letters as a set of bits (a letter's code point
    modulo 32 picks its bit). Damerau-Levenshtein edits change at most two bits each (a
    substitution: one letter out, one in; an insertion or deletion one; a swap none), so a word
    ``d`` edits from another differs from it in at most ``2 d`` bits: a cheap, exact test
    that rules out most of a large dictionary before the edit distance is worked out."""
    if not words:
        return np.zeros(0, dtype=np.uint32)
    length = len(words[0])
    points = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    bits = np.left_shift(np.uint32(1), points % np.uint32(32)).reshape(len(words), length)
    return np.bitwise_or.reduce(bits, axis=1) if length else np.zeros(len(words), np.uint32)


def words_of(uses: dict[str, int]) -> _Words:
    """A dictionary from its words and how many customers use each: sorted, grouped by
    length, with each group's letter masks."""
    by_length: dict[int, list[str]] = {}
    for w in uses:
        by_length.setdefault(len(w), []).append(w)
    masks = {n: letter_masks(same) for n, same in by_length.items()}
    return _Words(uses, sorted(uses), by_length, masks)


def max_edits(word: str, other: str = "") -> int:
    """Edits a typed ``word`` may hold (against a stored ``other``): one from three letters,
    two from four when either word has six or more (``gram`` may be ``graham``)."""
    if len(word) >= 4 and max(len(word), len(other)) >= 6:
        return 2
    if len(word) >= 3:
        return 1
    return 0


def near_words(words: _Words, word: str) -> list[tuple[str, int]]:
    """Dictionary words within ``max_edits`` edits (Damerau-Levenshtein) of ``word`` (not
    itself), closest first, then the most used: (word, edits)."""
    known = words.near.get(word)
    if known is not None:
        return known
    if len(words.near) >= NEAR_CACHE:
        words.near.clear()
    ranked = words.near[word] = _near_words(words, word)
    return ranked


def _near_words(words: _Words, word: str) -> list[tuple[str, int]]:
    edits = 2 if len(word) >= 4 else max_edits(word)
    if not edits or not word.isalpha():
        return []
    mask = letter_masks([word])[0]
    keys: list[str] = []
    for n in range(len(word) - edits, len(word) + edits + 1):
        same = words.by_length.get(n)
        if not same:
            continue
        masks = words.masks.get(n)
        if masks is None or len(masks) != len(same):
            keys.extend(same)
            continue
        # Only the words whose letters differ from the word's in at most 2 x edits bits can
        # be within ``edits`` edits (see ``letter_masks``); the rest are not compared.
        close = np.flatnonzero(np.bitwise_count(masks ^ mask) <= 2 * edits)
        keys.extend(same[i] for i in close)
    # Damerau-Levenshtein, not OSA: a deletion next to a swap (``bryant``: ``brnyt``) is two
    # edits, though three for OSA.
    found = process.extract(
        word, keys, scorer=DamerauLevenshtein.distance, score_cutoff=edits, limit=None
    )
    ranked = [(w, int(d)) for w, d, _i in found if w != word and d <= max_edits(word, w)]
    ranked.sort(key=lambda m: (m[1], -words.uses.get(m[0], 0)))
    return ranked


def corrections(session: Session, word: str, limit: int = 3) -> list[str]:
    """Dictionary words within one or two edits of ``word``, closest first, then most used."""
    return [w for w, _d in near_words(DICTIONARY.get(session), word)[:limit]]


def completions(words: _Words, prefix: str) -> list[str]:
    """The most used dictionary words that begin with ``prefix`` (not itself)."""
    if len(prefix) < index.MIN_WORD:
        return []
    start = bisect.bisect_left(words.ordered, prefix)
    end = bisect.bisect_left(words.ordered, prefix + "{")  # "{" follows "z"
    found = [w for w in words.ordered[start:end] if w != prefix]
    if len(found) > PREFIXES:
        found = sorted(found, key=lambda w: -words.uses[w])[:PREFIXES]
    return found


@dataclass(frozen=True)
class _Meaning:
    """What one typed word may stand for: dictionary words, and how many customers use them."""

    word: str
    known: list[str]
    """The word itself (when the dictionary has it), its corrections and completions."""
    near: list[str]
    """Its corrections, nearest first."""
    uses: int
    partial: bool = True
    """Whether the word as typed may be the beginning of a longer one."""
    common: list[str] = field(default_factory=list)
    """Its corrections, most used first."""

    @property
    def corrected(self) -> str | None:
        """The nearest other dictionary word (the first correction), if any."""
        return self.near[0] if self.near else None


def meaning(words: _Words, word: str) -> _Meaning:
    near = near_words(words, word)
    known = [word] if word in words.uses else []
    known += [w for w, _d in near]
    known += completions(words, word)
    known = list(dict.fromkeys(known))
    return _Meaning(
        word=word,
        known=known,
        near=[w for w, _d in near],
        uses=sum(words.uses.get(w, 0) for w in known),
        partial=word not in words.uses,
        common=sorted((w for w, _d in near), key=lambda w: -words.uses.get(w, 0)),
    )


def _as_typed(words: _Words, m: _Meaning) -> _Meaning:
    """The same word without its corrections: itself and the words it begins."""
    known = [w for w in m.known if w == m.word or w.startswith(m.word)]
    return _Meaning(m.word, known, [], sum(words.uses.get(w, 0) for w in known), True)


def _whole(words: _Words, m: _Meaning) -> _Meaning:
    """The same word without the words it begins: itself (when known) and its corrections."""
    known = [w for w in m.known if w == m.word or w in m.near]
    uses = sum(words.uses.get(w, 0) for w in known)
    return _Meaning(m.word, known, m.near, uses, False, m.common)


def _doubtful(words: _Words, m: _Meaning) -> bool:
    """Whether a typed word may be a typo: the dictionary does not know it, or knows a word
    one or two edits away that is ``RARE`` times more used (a misspelling some other record
    happens to share)."""
    own = words.uses.get(m.word, 0)
    return not own or any(words.uses.get(w, 0) >= RARE * own for w in m.near)


def _word_pool(
    session: Session,
    words: Sequence[str],
    meanings: Sequence[_Meaning],
    communities: Sequence[str] | None,
    visible_only: bool,
    budget: int = BUDGET,
) -> tuple[dict[int, index.Candidate], int]:
    """Candidates from the word table, and how many rows that read (0: every word too common,
    the trigram index must do). The customers of the rarest word (and of the next rarest) when
    they are few, whatever the other words; else those of the rarest word's customers whose
    name or address holds the next rarest word (as typed, which covers its completions, or one
    of its nearest corrections; or a word that is no dictionary word, such as a house number:
    ``12 main``)."""
    found: dict[int, index.Candidate] = {}

    def take(m: _Meaning, starting: Sequence[str] = (), whole: Sequence[str] = ()) -> int:
        for c in index.word_candidates(
            session,
            m.known,
            communities=communities,
            visible_only=visible_only,
            limit=budget,
            starting=starting,
            whole=whole,
        ):
            found.setdefault(c.customer_id, c)
        return m.uses

    rarest = sorted(meanings, key=lambda m: m.uses)
    read = 0
    if not rarest:
        return found, read
    first = rarest[0]
    # The query's other words, when only one has a meaning: a house number, a typo beyond
    # correction, an initial.
    others = [w for w in words if w != first.word and len(w) >= 2]
    if first.uses <= FEW or (len(rarest) == 1 and not others and first.uses <= BUDGET):
        read = take(first)
        if len(rarest) > 1 and read + rarest[1].uses <= FEW:
            read += take(rarest[1])
    elif len(rarest) > 1 and first.uses <= SCAN:
        other = rarest[1]
        # A word the dictionary knows is looked for whole (``jon`` is not ``jones``) once its
        # corrections are tried; as typed, it may begin a name (a partial name).
        # Its corrections looked for: the nearest, and the most used (a planted look-alike one
        # edit away must not hide the real name two edits away).
        fixes = [*other.near[:FILTERS], *other.common[:FILTERS]]
        if other.partial:
            read = take(first, starting=[other.word], whole=fixes)
        else:
            read = take(first, whole=[other.word, *fixes])
    elif len(rarest) == 1 and others and first.uses <= SCAN:
        read = take(first, starting=others)
    return found, read


def _base(visible_only: bool, communities: Sequence[str] | None) -> Select[PortalCustomer]:
    stmt = select(PortalCustomer)
    if visible_only:
        stmt = stmt.where(PortalCustomer.visible)
    if communities is not None:
        stmt = stmt.where(PortalCustomer.community.in_(list(communities)))
    return stmt


def _hit(c: Any, score: float, via: str | None = None) -> Hit:
    """A hit from a customer (entity or row of ``_HIT_COLUMNS``)."""
    return Hit(
        customer_id=c.id,
        community=c.community,
        account_number=c.account_number,
        display_name=c.display_name,
        service_address=c.service_address,
        score=round(score, 1),
        visible=c.visible,
        eligible=c.eligible,
        ineligible_reason=c.ineligible_reason,
        merged_into_account=c.merged_into_account,
        via=via,
    )


def _number_search(
    session: Session,
    q: NumberQuery,
    communities: Sequence[str] | None,
    visible_only: bool,
    limit: int,
) -> list[Hit]:
    hits: dict[int, Hit] = {}
    exact: list[tuple[PortalCustomer, float]] = []
    conds = []
    if q.account:
        conds.append(PortalCustomer.account_number == q.account)
    if q.location is not None:
        conds.append(PortalCustomer.account_location == q.location)
    if len(q.digits) >= 10:
        conds.append(PortalCustomer.phone_digits == q.digits)
    # Shorter phone numbers (the last seven digits) and other fragments: the trigram index.
    if conds:
        rows = session.scalars(_base(False, communities).where(or_(*conds)).limit(limit * 5))
        for c in rows:
            if q.account and c.account_number == q.account:
                score = 100.0
            elif q.location is not None and c.account_location == q.location:
                score = 98.0 - int(c.account_number[-2:]) * 0.01
            else:
                score = 95.0
            exact.append((c, score))
    for c, score in exact:
        if c.merged_into_account and visible_only:
            survivor = session.scalar(
                _base(True, communities).where(
                    PortalCustomer.community == c.community,
                    PortalCustomer.account_number == c.merged_into_account,
                )
            )
            if survivor is not None and survivor.id not in hits:
                hits[survivor.id] = _hit(survivor, score, via=f"merged account {c.account_number}")
            continue
        if visible_only and not c.visible:
            continue
        hits.setdefault(c.id, _hit(c, score))
    if len(hits) < limit and len(q.digits) >= index.MIN_FRAGMENT:
        found = index.candidates(
            session,
            [q.digits],
            every=True,
            communities=communities,
            visible_only=visible_only,
            limit=CANDIDATES,
        )
        for c in _load(session, [f.customer_id for f in found if f.customer_id not in hits]):
            hits[c.id] = _hit(c, 80.0)
    return sorted(hits.values(), key=lambda h: (-h.score, h.account_number))[:limit]


_HIT_COLUMNS = (
    PortalCustomer.id,
    PortalCustomer.community,
    PortalCustomer.account_number,
    PortalCustomer.display_name,
    PortalCustomer.service_address,
    PortalCustomer.visible,
    PortalCustomer.eligible,
    PortalCustomer.ineligible_reason,
    PortalCustomer.merged_into_account,
)


def _load(session: Session, ids: Sequence[int]) -> list[Any]:
    """The columns a hit shows of these customers (rows, not entities: cheaper), in order."""
    if not ids:
        return []
    rows = {
        c.id: c
        for c in session.execute(select(*_HIT_COLUMNS).where(PortalCustomer.id.in_(list(ids))))
    }
    return [rows[i] for i in ids if i in rows]


def _sim(q: str, w: str) -> float:
    """How well a typed word ``q`` is met by a stored word ``w``: 1 equal, about 0.96 a prefix
    (a partial name; an initial for one letter), 0.6-0.9 within the edits a typo may hold
    (Damerau-Levenshtein: a swap is one edit), else a weak similarity."""
    if q == w:
        return 1.0
    if w.startswith(q):
        return 0.95 + 0.04 * len(q) / len(w)
    edits = max_edits(q, w)
    if edits:
        d = DamerauLevenshtein.distance(q, w, score_cutoff=edits)
        if d <= edits:
            return 0.6 + 0.3 * (1 - d / max(len(q), len(w)))
    return 0.5 * fuzz.ratio(q, w) / 100


class _Memo(dict[str, float]):
    """How well one query word is met by each stored word, worked out on first use (a dict
    lookup after that, done in C by the comprehensions that read it). ``joined``: the stored
    word is two name words joined (a little less, and nothing for a short query word)."""

    def __init__(self, q: str, joined: bool = False) -> None:
        super().__init__()
        self.q = q
        self.joined = joined

    def __missing__(self, w: str) -> float:
        if self.joined:
            got = _sim(self.q, w) * JOINED if len(self.q) >= JOINED_MIN else 0.0
        else:
            got = _sim(self.q, w)
        self[w] = got
        return got


class _Scorer:
    """Scores candidates for one query, word by word. A name's part is worked out once per
    distinct name (names repeat); an address word counts only when it is one a query word may
    mean (itself, a correction, a completion), at 0.9."""

    def __init__(self, texts: Sequence[tuple[list[str], float]], known: set[str]) -> None:
        self.texts = texts
        self.known = known
        self.memo: dict[str, _Memo] = {}
        self.joined: dict[str, _Memo] = {}
        self.names: dict[str, list[tuple[list[float], float]]] = {}
        self.plain: dict[str, float] = {}
        """A name's score when its address holds no word the query may mean (most do not)."""
        self.by_id: dict[int, float] = {}
        self.memos = [[self._memo(q) for q in words] for words, _w in texts]
        self.joined_memos = [[self._memo(q, True) for q in words] for words, _w in texts]

    def _memo(self, q: str, joined: bool = False) -> _Memo:
        memos = self.joined if joined else self.memo
        memo = memos.get(q)
        if memo is None:
            memo = memos[q] = _Memo(q, joined)
        return memo

    def word(self, q: str, w: str) -> float:
        return self._memo(q)[w]

    def _name(self, name: str) -> list[tuple[list[float], float]]:
        """Per text: each query word's best match among the name's words, and what the name
        costs beside them: a little per name word no query word took, and a little more when
        the query's words met the name's in another order (``Kim Willia``: Kim S Williams
        before William Kim). Two neighbouring name words count joined too (a double name
        typed as one word: ``smithjones`` for Smith-Jones)."""
        out = []
        names = name.split()
        n = len(names)
        # Spans: each name word (position i covers i..i), then two neighbours joined (the
        # first position of each pair; it covers first..first+1), not an initial.
        pairs = [i for i in range(n - 1) if min(len(names[i]), len(names[i + 1])) >= 2]
        joined_words = [names[i] + names[i + 1] for i in pairs]
        spans = [(i, i) for i in range(n)] + [(i, i + 1) for i in pairs]
        for memos, joined_memos in zip(self.memos, self.joined_memos, strict=True):
            # Each query word's best name word; when two want the same one, best pairs first,
            # each name word meeting one query word at most (``Tohmas Thomams``: Andrew
            # Tohmas's one word does not answer both).
            if joined_words:
                rows = [
                    [m[w] for w in names] + [j[w] for w in joined_words]
                    for m, j in zip(memos, joined_memos, strict=True)
                ]
            else:
                rows = [[m[w] for w in names] for m in memos]
            tops = [max(row) for row in rows]
            used: set[int] = set()
            place: list[int | None] = []
            for row, top in zip(rows, tops, strict=True):
                first, last = spans[row.index(top)]
                if first in used or last in used:
                    break
                used.add(first)
                used.add(last)
                place.append(first)
            else:
                rows = []
            if rows:
                ordered = sorted(
                    (-v, qi, *spans[si]) for qi, row in enumerate(rows) for si, v in enumerate(row)
                )
                tops = [0.0] * len(rows)
                place = [None] * len(rows)
                used = set()
                for neg, qi, first, last in ordered:
                    if place[qi] is not None or first in used or last in used:
                        continue
                    tops[qi], place[qi] = -neg, first
                    used.add(first)
                    used.add(last)
            places = [
                p for p, top in zip(place, tops, strict=True) if p is not None and top >= ORDERED
            ]
            cost = EXTRA * (n - len(used))
            if any(b < a for a, b in zip(places, places[1:], strict=False)):
                cost += ORDER
            out.append((tops, cost))
        return out

    def score(self, name: str, address: str) -> float:
        known = self.known
        addresses = [w for w in address.split() if w in known]
        if not addresses:
            got = self.plain.get(name)
            if got is not None:
                return got
        parts = self.names.get(name)
        if parts is None:
            parts = self.names[name] = self._name(name)
        best = 0.0
        for (words, weight), (tops, cost) in zip(self.texts, parts, strict=True):
            if addresses:
                tops = [
                    max(top, *(0.9 * self.word(q, w) for w in addresses))
                    for q, top in zip(words, tops, strict=True)
                ]
            # A name word the query does not mention costs a little (``Julie Hunt`` before
            # ``Julie A Hunt``), another order a little more.
            best = max(best, weight * (sum(tops) / len(tops) - cost))
        if not addresses:
            self.plain[name] = 100 * best
        return 100 * best


def _texts(words: list[str]) -> list[tuple[list[str], float]]:
    """The query's words, and the same with a short word joined to its neighbour (``o brien``:
    ``obrien``) or with every word joined, slightly lower."""
    texts: list[tuple[list[str], float]] = [(words, 1.0)]
    for i in range(len(words) - 1):
        if min(len(words[i]), len(words[i + 1])) <= 2:
            texts.append(([*words[:i], words[i] + words[i + 1], *words[i + 2 :]], 0.99))
    if len(words) > 1:
        texts.append((["".join(words)], 0.97))
    # Each once (``12 n``: joining the short word is joining every word).
    return list({tuple(t): (t, w) for t, w in reversed(texts)}.values())[::-1]


def _rank(
    scorer: _Scorer, candidates: Sequence[index.Candidate], limit: int
) -> list[tuple[int, float]]:
    """The best ``limit`` (customer id, score), best first (ties: name, then id)."""
    seen = scorer.by_id
    scored = []
    for c in candidates:
        score = seen.get(c.customer_id)
        if score is None:
            score = seen[c.customer_id] = scorer.score(c.name, c.address)
        scored.append((-score, c.name, c.customer_id))
    scored.sort()
    return [(cid, -neg) for neg, _name, cid in scored[:limit]]


def _trigram_candidates(
    session: Session,
    words: list[str],
    meanings: list[_Meaning],
    communities: Sequence[str] | None,
    visible_only: bool,
) -> tuple[dict[int, index.Candidate], bool]:
    """Candidates from the trigram index, when every word is common: every fragment (the words
    as typed, then corrected), and the fragments as a phrase and close together first when
    that is more than the pool holds; any fragment only when that finds none."""

    def find(
        fragments: Sequence[str], every: bool, limit: int, near: bool = False, phrase: bool = False
    ) -> list[index.Candidate]:
        return index.candidates(
            session,
            fragments,
            every=every,
            communities=communities,
            visible_only=visible_only,
            limit=limit,
            near=near,
            phrase=phrase,
        )

    fixes = {m.word: m.corrected for m in meanings if m.corrected}
    # A word the dictionary does not know is replaced by its nearest known word.
    known = DICTIONARY.get(session).uses
    corrected = [fixes.get(w) or w if w not in known else w for w in words]
    found: dict[int, index.Candidate] = {}
    for variant in dict.fromkeys((tuple(words), tuple(corrected))):
        every = find(variant, True, POOL)
        if len(every) >= POOL and len(variant) > 1:
            for c in find(variant, True, POOL, phrase=True):
                found.setdefault(c.customer_id, c)
            for c in find(variant, True, POOL, near=True):
                found.setdefault(c.customer_id, c)
        for c in every:
            found.setdefault(c.customer_id, c)
    # Any fragment only when no customer has every one (``52110 6th`` found one customer: the
    # house number's; reading the customers of any ``6th`` would add nothing but time).
    loosened = False
    if not found:
        for c in find(sorted({*words, *corrected}), False, POOL):
            found.setdefault(c.customer_id, c)
        loosened = True
    return found, loosened


def query_words(query: str) -> list[str]:
    """The folded words of ``query``, in the name's order: ``Wood, Julie`` (last name, comma,
    first name) is ``julie wood``."""
    before, comma, after = query.partition(",")
    if comma and before.strip() and after.strip():
        return fold(after).split() + fold(before).split()
    return fold(query).split()


def split_word(words: _Words, word: str) -> tuple[str, str] | None:
    """``word``, unknown to the dictionary, cut in two parts that may be two dictionary words
    typed as one (a double name without its hyphen or space, with a typo: ``smithajoens`` is
    ``smitha`` ``joens``): one part a dictionary word, the other equal to or within its edits
    of one, at most two edits in all; the fewest edits, then the most used. None when there
    is no such cut."""
    if len(word) < 2 * index.MIN_WORD + 1 or word in words.uses or not word.isalpha():
        return None
    best: tuple[int, int, str, str] | None = None
    for i in range(index.MIN_WORD, len(word) - index.MIN_WORD + 1):
        left, right = word[:i], word[i:]
        # One part as typed (a typo in each part is not looked for: too many cuts to correct).
        if left not in words.uses and right not in words.uses:
            continue
        parts = []
        for part in (left, right):
            if part in words.uses:
                parts.append((part, 0))
            else:
                near = near_words(words, part)
                if not near:
                    break
                parts.append(near[0])
        if len(parts) < 2:
            continue
        edits = parts[0][1] + parts[1][1]
        if edits > 2:
            continue
        used = min(words.uses[parts[0][0]], words.uses[parts[1][0]])
        key = (edits, -used, word[:i], word[i:])
        if best is None or key < best:
            best = key
    return (best[2], best[3]) if best else None


def plan_words(session: Session, query: str) -> tuple[list[str], list[list[str]]]:
    """The folded words of ``query`` and, for each, its dictionary corrections."""
    words = query_words(query)
    return words, [corrections(session, w) for w in words]


def search(
    session: Session,
    query: str,
    *,
    communities: Sequence[str] | None = None,
    visible_only: bool = True,
    limit: int = 10,
) -> list[Hit]:
    """The best ``limit`` customers for ``query``, best first."""
    hits, _plan = search_with_plan(
        session, query, communities=communities, visible_only=visible_only, limit=limit
    )
    return hits


def search_with_plan(
    session: Session,
    query: str,
    *,
    communities: Sequence[str] | None = None,
    visible_only: bool = True,
    limit: int = 10,
) -> tuple[list[Hit], SearchPlan]:
    number = number_query(query)
    if number is not None:
        hits = _number_search(session, number, communities, visible_only, limit)
        return hits, SearchPlan((number.digits,), (), False)
    words = query_words(query)
    if not words:
        return [], SearchPlan((), (), False)
    dictionary = DICTIONARY.get(session)
    meanings = [meaning(dictionary, w) for w in dict.fromkeys(words) if len(w) >= index.MIN_WORD]
    meanings = [m for m in meanings if m.known]
    corrected = tuple(
        m.corrected for m in meanings if m.corrected and m.word not in dictionary.uses
    )
    # First the words as typed (and the words they begin: partial names), then with their
    # corrections when that finds no customer meeting every word.
    exact = [_as_typed(dictionary, m) for m in meanings]
    scorer = _Scorer(_texts(words), {*words, *(w for m in meanings for w in m.known)})
    found, read = _word_pool(
        session, words, [m for m in exact if m.known], communities, visible_only
    )
    ranked = _rank(scorer, list(found.values()), limit)
    # Then with corrections: of every word when nothing met the words as typed; else, when
    # fewer than asked for did, of the words that may be typos (``Douglas Jenknis``: a real
    # customer, but Douglas Jenkins may be meant), the others as typed.
    again: list[_Meaning] = []
    if not ranked or ranked[0][1] < DONE:
        again = meanings
    elif sum(1 for _cid, score in ranked if score >= DONE) < limit:
        doubtful = [_doubtful(dictionary, m) for m in meanings]
        if any(doubtful):
            again = [m if d else e for m, d, e in zip(meanings, doubtful, exact, strict=True)]
    if again:
        more, read_more = _word_pool(
            session, words, [m for m in again if m.known], communities, visible_only
        )
        found.update(more)
        read += read_more
        ranked = _rank(scorer, list(found.values()), limit)
        # A word typed for a double name (``smithajoens``): the customers with both its parts,
        # when the corrections did not find as many good results as asked for, and unless the
        # word begins a dictionary word (a partial name).
        for m in again:
            if sum(1 for _cid, score in ranked if score >= SPLIT_BELOW) >= limit:
                break
            if any(w.startswith(m.word) for w in m.known):
                continue
            parts = split_word(dictionary, m.word)
            if parts is None:
                continue
            typed = [w for w in words if w != m.word] + list(parts)
            # Each part stands for itself and its corrections, not the words it begins: the
            # parts of a double name are whole words.
            whole = [_whole(dictionary, meaning(dictionary, w)) for w in parts]
            split = [*(o for o in again if o is not m and o.known), *whole]
            more, read_more = _word_pool(
                session,
                typed,
                split,
                communities,
                visible_only,
                budget=FEW,  # the holders of a double name are few
            )
            found.update(more)
            read += read_more
            ranked = _rank(scorer, list(found.values()), limit)
    loosened = False
    if not read:
        found, loosened = _trigram_candidates(session, words, meanings, communities, visible_only)
        ranked = _rank(scorer, list(found.values()), limit)
    rows = {c.id: c for c in _load(session, [cid for cid, _ in ranked])}
    hits = [_hit(rows[cid], score) for cid, score in ranked if cid in rows]
    return hits, SearchPlan(tuple(words), corrected, loosened)
