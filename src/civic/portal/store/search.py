"""Staff search over the store: names, partial names, account numbers in any spelling, service
address fragments and phone numbers, tolerant of typos and punctuation.

1. The query is folded like the index (``O'Brien`` and ``OBrien`` are one word).
2. A query of digits is an account number (``1234``, ``1234-1``, ``001234-01``, ``00123401``)
   or a phone number: exact look-ups first, then substring candidates. A merged-away account
   number leads to the survivor.
3. Words: candidates containing every fragment (trigram index); a word that is not in the
   store's dictionary is corrected to the nearest dictionary words (up to two edits, by
   ``rapidfuzz``) and tried again; if there are still few, candidates containing any fragment.
4. Candidates are reranked by ``rapidfuzz`` against names and address, best first.

Results are limited to the communities passed in (``None``: every community); residents'
search shows only visible records (eligible and not merged away).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from civic.portal.store import index
from civic.portal.store.normalize import NumberQuery, fold, number_query
from civic.portal.store.tables import PortalCustomer, PortalWord

CANDIDATES = 100
"""Candidates reranked in full."""
POOL = 300
"""Candidates a query may fetch before the shortlist."""
ALTERNATIVES = 2
"""Corrections of one word tried as candidates (the first counts in the ranking)."""
RARE = 20
CORRECTED = 0.96
"""Weight of a match found through corrected words against one of the words as typed."""
"""A dictionary word this many times rarer than a close neighbour may be a typo of it."""
DICTIONARY_TTL = 30.0
"""Seconds a process keeps the typo dictionary before reloading it."""


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


class Dictionary:
    """The store's words with their use counts, held in memory for a short while, and grouped
    by length (a word within two edits of another is at most two letters longer or shorter)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, int], list[str], dict[int, list[str]]]] = {}

    def _entry(
        self, session: Session
    ) -> tuple[float, dict[str, int], list[str], dict[int, list[str]]]:
        key = session.get_bind().engine.url.render_as_string(hide_password=True)
        with self._lock:
            cached = self._cache.get(key)
            if cached and time.monotonic() - cached[0] < DICTIONARY_TTL:
                return cached
        uses = {w: n for w, n in session.execute(select(PortalWord.word, PortalWord.uses))}
        by_length: dict[int, list[str]] = {}
        for w in uses:
            by_length.setdefault(len(w), []).append(w)
        entry = (time.monotonic(), uses, list(uses), by_length)
        with self._lock:
            self._cache[key] = entry
        return entry

    def words(self, session: Session) -> tuple[dict[str, int], list[str]]:
        entry = self._entry(session)
        return entry[1], entry[2]

    def near_length(self, session: Session, length: int, edits: int) -> list[str]:
        """The words whose length is within ``edits`` of ``length``."""
        by_length = self._entry(session)[3]
        out: list[str] = []
        for n in range(length - edits, length + edits + 1):
            out.extend(by_length.get(n, ()))
        return out

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


DICTIONARY = Dictionary()


def max_edits(word: str) -> int:
    if len(word) >= 6:
        return 2
    if len(word) >= 4:
        return 1
    return 0


def corrections(session: Session, word: str, limit: int = 3) -> list[str]:
    """Dictionary words within one or two edits of ``word`` (most used first among the
    closest); for a word the dictionary knows, only far more common ones."""
    edits = max_edits(word)
    if not edits or not word.isalpha():
        return []
    uses, _keys = DICTIONARY.words(session)
    keys = DICTIONARY.near_length(session, len(word), edits)
    own = uses.get(word, 0)
    found = process.extract(word, keys, scorer=OSA.distance, score_cutoff=edits, limit=limit * 8)
    # A known word is corrected only towards far more common ones (``Michel`` -> ``Michael``,
    # ``Wilsn`` -> ``Wilson``): a typo that some other record happens to share.
    ranked = sorted(
        (m for m in found if m[0] != word and (not own or uses.get(m[0], 0) >= RARE * own)),
        key=lambda m: (m[1], -uses.get(m[0], 0)),
    )
    return [m[0] for m in ranked[:limit]]


def _base(visible_only: bool, communities: Sequence[str] | None) -> Select[PortalCustomer]:
    stmt = select(PortalCustomer)
    if visible_only:
        stmt = stmt.where(PortalCustomer.visible)
    if communities is not None:
        stmt = stmt.where(PortalCustomer.community.in_(list(communities)))
    return stmt


def _hit(c: PortalCustomer, score: float, via: str | None = None) -> Hit:
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


def _load(session: Session, ids: Sequence[int]) -> list[PortalCustomer]:
    if not ids:
        return []
    rows = {
        c.id: c
        for c in session.scalars(select(PortalCustomer).where(PortalCustomer.id.in_(list(ids))))
    }
    return [rows[i] for i in ids if i in rows]


def _word_score(query: str, text: str) -> float:
    """How well every query word is met by a word of ``text``: 100 equal, 96 a prefix (a
    partial name), else their similarity; averaged over the query's words."""
    words = text.split()
    if not words:
        return 0.0
    total = 0.0
    for q in query.split():
        best = 0.0
        for w in words:
            if w == q:
                best = 100.0
                break
            if len(q) >= 2 and w.startswith(q):
                best = max(best, 96.0)
            else:
                best = max(best, fuzz.ratio(q, w))
        total += best
    return total / max(1, len(query.split()))


def _score(query: str, name: str, address: str) -> float:
    both = f"{name} {address}"
    return max(
        _word_score(query, name) * 0.99,
        _word_score(query, both) * 0.96,
        fuzz.token_sort_ratio(query, name),
        fuzz.token_set_ratio(query, name) * 0.98,
        fuzz.partial_ratio(query, name) * 0.95 if len(query) >= 3 else 0.0,
        fuzz.token_set_ratio(query, both) * 0.97,
        fuzz.partial_ratio(query, address) * 0.9 if address and len(query) >= 4 else 0.0,
    )


def _shortlist(
    query: str,
    candidates: Sequence[index.Candidate],
    variants: Sequence[tuple[str, float]],
) -> list[index.Candidate]:
    """The ``CANDIDATES`` most promising of a large pool, by one cheap score (in C)."""
    if len(candidates) <= CANDIDATES:
        return list(candidates)
    texts = [query, *(text for text, _weight in variants)]
    names = [c.name for c in candidates]
    both = [f"{c.name} {c.address}" for c in candidates]
    by_name = process.cdist(texts, names, scorer=fuzz.token_set_ratio, workers=1)
    by_both = process.cdist(texts, both, scorer=fuzz.token_set_ratio, workers=1)
    weights = numpy.array([[1.0], *([w] for _text, w in variants)])
    best = (numpy.maximum(by_name, by_both * 0.97) * weights).max(axis=0)
    order = numpy.argsort(-best, kind="stable")[:CANDIDATES]
    return [candidates[int(i)] for i in order]


def _rank(
    query: str,
    candidates: Sequence[index.Candidate],
    variants: Sequence[tuple[str, float]],
    limit: int,
) -> list[tuple[int, float]]:
    """The best ``limit`` (customer id, score), best first (ties: name, then id). A candidate
    scores its best match against the query or one of its corrected ``variants`` (each with
    its weight, below 1: a match of the words as typed ranks first)."""
    scored = []
    for c in candidates:
        best = _score(query, c.name, c.address)
        for text, weight in variants:
            best = max(best, _score(text, c.name, c.address) * weight)
        scored.append((-best, c.name, c.customer_id))
    scored.sort()
    return [(cid, -neg) for neg, _name, cid in scored[:limit]]


def plan_words(session: Session, query: str) -> tuple[list[str], list[list[str]]]:
    """The folded words of ``query`` and, for each, its dictionary corrections."""
    words = fold(query).split()
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
    words, fixes = plan_words(session, query)
    if not words:
        return [], SearchPlan((), (), False)

    def find(
        fragments: Sequence[str],
        every: bool,
        limit: int,
        near: bool = False,
        phrase: bool = False,
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

    uses, _keys = DICTIONARY.words(session)
    # Unknown words corrected, known ones kept (a rare real name next to a typo); then every
    # word corrected.
    partly = [f[0] if f and w not in uses else w for w, f in zip(words, fixes, strict=True)]
    corrected_words = [f[0] if f else w for w, f in zip(words, fixes, strict=True)]
    corrected = corrected_words if corrected_words != words else []
    # One word corrected at a time, with each of its first corrections (``jenniferr
    # rodrigeuz``: ``jenniferr rodriguez``, a rare real name next to a typo; ``colxinss``:
    # ``collinss``, ``collins``).
    others = [
        [*words[:i], alt, *words[i + 1 :]]
        for i, fix in enumerate(fixes)
        for alt in fix[:ALTERNATIVES]
    ]
    tried = list(dict.fromkeys(tuple(v) for v in (words, partly, corrected_words, *others)))
    found: dict[int, index.Candidate] = {}
    for variant in tried:
        # Every fragment anywhere; when that is more than the pool holds (common names), the
        # fragments close together first, so the one meant is not cut off by the limit.
        every = find(variant, True, POOL)
        if len(every) >= POOL and len(variant) > 1:
            for c in find(variant, True, POOL, phrase=True):
                found.setdefault(c.customer_id, c)
            for c in find(variant, True, POOL, near=True):
                found.setdefault(c.customer_id, c)
        for c in every:
            found.setdefault(c.customer_id, c)
    loosened = False
    if len(found) < limit:
        # Any fragment, best matches first (a word too short to correct, or a typo the
        # dictionary cannot mend, next to a good one).
        loose = {w for w in (*words, *(w for f in fixes for w in f))}
        for c in find(sorted(loose), False, CANDIDATES):
            found.setdefault(c.customer_id, c)
        loosened = True
    # Ranking: a match of the words as typed first, then of the unknown words corrected, then
    # of every word corrected, then of one word corrected another way.
    weighted = [
        (partly, CORRECTED + 0.01),
        (corrected_words, CORRECTED),
        *((o, CORRECTED - 0.005) for o in others if len(words) > 1),
    ]
    variants: list[tuple[str, float]] = []
    for v, weight in weighted:
        text = " ".join(v)
        if v != words and all(text != t for t, _w in variants):
            variants.append((text, weight))
    pool = _shortlist(" ".join(words), list(found.values()), variants)
    ranked = _rank(" ".join(words), pool, variants, limit)
    rows = {c.id: c for c in _load(session, [cid for cid, _ in ranked])}
    hits = [_hit(rows[cid], score) for cid, score in ranked if cid in rows]
    return hits, SearchPlan(tuple(words), tuple(corrected), loosened)
