"""The search index, the one place where SQLite and PostgreSQL differ.

Both hold, per customer, one folded document (names, service address, account number in its
spellings, phone digits) with the customer's community and whether residents may see it, and
both answer "which customers contain every (or any) of these fragments" by substring:

- SQLite: an FTS5 table with the ``trigram`` tokenizer, ``rowid`` = customer id.
- PostgreSQL: a plain table with a ``pg_trgm`` GIN index on the document, queried with
  ``LIKE '%fragment%'`` (which the trigram index serves).

Beside it, both backends hold the same word table (``portal_search_words``): one row per
customer and word of its name and service address (alphabetic, three letters or more: the words
of the typo dictionary), carrying the community, visibility and the folded name and address
used for ranking (with a space either side). Its primary key is (word, customer id), a B-tree
on both backends, so "which customers have one of these words" is a few index range reads
returning everything the ranking needs, far cheaper than a trigram scan of the documents
(``word_candidates``).

The sync writes the index in the same transaction as the customer's rows, so a customer is
searchable the moment its sync commits. Fragments shorter than three characters cannot use a
trigram index; the caller drops them from the candidate query and uses them in the ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

MIN_FRAGMENT = 3
MIN_WORD = 3
"""Shortest word held in the word table (as in the typo dictionary)."""
NEAR_TOKENS = 16
"""Trigrams allowed between two fragments of a ``near`` query: a middle name or initial."""


@dataclass(frozen=True)
class IndexRow:
    customer_id: int
    doc: str
    community: str
    visible: bool
    name: str = ""
    """The folded display name (for ranking, not searched)."""
    address: str = ""
    """The folded service address (for ranking, not searched)."""


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    name: str
    address: str


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def index_words(name: str, address: str) -> list[str]:
    """The words of a folded name and address the word table holds, each once."""
    return sorted({w for w in f"{name} {address}".split() if len(w) >= MIN_WORD and w.isalpha()})


def _word_rows(
    rows: Sequence[IndexRow], visible: Callable[[bool], object]
) -> list[tuple[object, ...]]:
    # Name and address are kept with a space either side, so "a name word equal to / beginning
    # with" is a plain substring test for the database (`` jon `` / `` jon``).
    return [
        (w, r.customer_id, r.community, visible(r.visible), f" {r.name} ", f" {r.address} ")
        for r in rows
        for w in index_words(r.name, r.address)
    ]


def put(session: Session, rows: Sequence[IndexRow]) -> None:
    """Replace the index entries of these customers."""
    if not rows:
        return
    remove(session, [r.customer_id for r in rows])
    connection = session.connection()
    if _is_sqlite(session):
        connection.exec_driver_sql(
            "INSERT INTO portal_search (rowid, doc, name, address, community, visible) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r.customer_id, r.doc, r.name, r.address, r.community, 1 if r.visible else 0)
                for r in rows
            ],
        )
        words = _word_rows(rows, lambda v: 1 if v else 0)
        if words:  # a customer may have no word of three letters
            connection.exec_driver_sql(
                "INSERT INTO portal_search_words "
                "(word, customer_id, community, visible, name, address) VALUES (?, ?, ?, ?, ?, ?)",
                words,
            )
    else:
        from civic.portal.store.bulk import raw_copy

        raw_copy(
            session,
            "COPY portal_search (customer_id, doc, name, address, community, visible) FROM STDIN",
            [(r.customer_id, r.doc, r.name, r.address, r.community, r.visible) for r in rows],
        )
        words = _word_rows(rows, bool)
        if words:
            raw_copy(
                session,
                "COPY portal_search_words (word, customer_id, community, visible, name, address) "
                "FROM STDIN",
                words,
            )


def remove(session: Session, customer_ids: Sequence[int]) -> None:
    if not customer_ids:
        return
    if not _is_sqlite(session):
        # One bound array: a short statement psycopg parses once (see ``bulk.among``).
        for table in ("portal_search", "portal_search_words"):
            session.execute(
                text(f"DELETE FROM {table} WHERE customer_id = ANY(CAST(:ids AS BIGINT[]))"),
                {"ids": list(customer_ids)},
            )
        return
    for sql in (
        "DELETE FROM portal_search WHERE rowid IN :ids",
        "DELETE FROM portal_search_words WHERE customer_id IN :ids",
    ):
        stmt = text(sql).bindparams(bindparam("ids", expanding=True))
        session.execute(stmt, {"ids": list(customer_ids)})


def set_visible(session: Session, visible: dict[int, bool]) -> None:
    """Change only whether residents may see these customers (a rule changed)."""
    if not visible:
        return
    if _is_sqlite(session):
        values = [{"id": i, "v": 1 if v else 0} for i, v in visible.items()]
        session.execute(text("UPDATE portal_search SET visible = :v WHERE rowid = :id"), values)
    else:
        values = [{"id": i, "v": v} for i, v in visible.items()]
        session.execute(
            text("UPDATE portal_search SET visible = :v WHERE customer_id = :id"), values
        )
    session.execute(
        text("UPDATE portal_search_words SET visible = :v WHERE customer_id = :id"), values
    )


def candidates(
    session: Session,
    fragments: Sequence[str],
    *,
    every: bool,
    communities: Sequence[str] | None,
    visible_only: bool,
    limit: int,
    near: bool = False,
    phrase: bool = False,
) -> list[Candidate]:
    """Ids of customers whose document contains every (``every``) or any of ``fragments``
    (each at least three characters; they are folded text, ``[a-z0-9 -]``). ``near``: every
    fragment, close together (SQLite: FTS5 ``NEAR``, a few words apart in any order; PostgreSQL:
    every fragment in the name) — the precise first pass of a name search. ``phrase``: the
    fragments next to each other, in order (``jon smi`` in ``jon smith``)."""
    if phrase:
        joined = " ".join(fragments)
        fragments = [joined] if len(joined) >= MIN_FRAGMENT else []
    fragments = [f for f in dict.fromkeys(fragments) if len(f) >= MIN_FRAGMENT]
    if not fragments:
        return []
    params: dict[str, object] = {"limit": limit}
    filters: list[str] = []
    sqlite = _is_sqlite(session)
    if visible_only:
        filters.append("visible = 1" if sqlite else "visible")
    if communities is not None:
        if not communities:
            return []
        filters.append("community IN :communities")
        params["communities"] = list(communities)
    if sqlite:
        joiner = " AND " if every else " OR "
        params["match"] = joiner.join(f'"{f}"' for f in fragments)
        if near and len(fragments) > 1:
            quoted = " ".join(f'"{f}"' for f in fragments)
            params["match"] = f"NEAR({quoted}, {NEAR_TOKENS})"
        where = " AND ".join(["portal_search MATCH :match", *filters])
        order = "" if every else " ORDER BY rank"
        sql = f"SELECT rowid, name, address FROM portal_search WHERE {where}{order} LIMIT :limit"
    else:
        likes = []
        for i, f in enumerate(fragments):
            params[f"f{i}"] = f"%{f}%"
            likes.append(f"doc LIKE :f{i}")
            if near:
                likes.append(f"name LIKE :f{i}")
        joiner = " AND " if every or near else " OR "
        where = " AND ".join([f"({joiner.join(likes)})", *filters])
        sql = f"SELECT customer_id, name, address FROM portal_search WHERE {where} LIMIT :limit"
    stmt = text(sql)
    if "communities" in params:
        stmt = stmt.bindparams(bindparam("communities", expanding=True))
    return [Candidate(int(r[0]), r[1], r[2]) for r in session.execute(stmt, params).all()]


def word_candidates(
    session: Session,
    words: Sequence[str],
    *,
    communities: Sequence[str] | None,
    visible_only: bool,
    limit: int,
    starting: Sequence[str] = (),
    whole: Sequence[str] = (),
) -> list[Candidate]:
    """Customers with at least one of ``words`` (whole words of the word table), each once, at
    most ``limit`` rows read: index range reads on (word, customer id), no document read.
    With ``starting`` or ``whole``, only those with a word of the name or address that begins
    with one of ``starting``, or a name word equal to one of ``whole`` (checked by the database
    while it reads, so a common word's customers are not all sent back). Sent as the driver's
    SQL: this runs for every search, and compiling a statement costs as much as a small read."""
    words = sorted(set(words))
    if not words or (communities is not None and not communities):
        return []
    sqlite = _is_sqlite(session)
    mark = "?" if sqlite else "%s"

    def marks(n: int) -> str:
        return ", ".join([mark] * n)

    params: list[object] = list(words)
    filters = [f"word IN ({marks(len(words))})"]
    if visible_only:
        filters.append("visible = 1" if sqlite else "visible")
    if communities is not None:
        filters.append(f"community IN ({marks(len(communities))})")
        params.extend(communities)
    starts = [f" {p}" for p in dict.fromkeys(starting)]
    equals = [f" {w} " for w in dict.fromkeys(whole) if w not in starting]
    if starts or equals:
        if sqlite:
            tests = []
            for i, part in enumerate(starts + equals):
                tests.append("instr(name, ?) > 0")
                params.append(part)
                if i < len(starts):
                    tests.append("instr(address, ?) > 0")
                    params.append(part)
            filters.append(f"({' OR '.join(tests)})")
        else:
            tests = ["strpos(name, %s) > 0" for _ in starts + equals]
            tests += ["strpos(address, %s) > 0" for _ in starts]
            params.extend([*starts, *equals, *starts])
            filters.append(f"({' OR '.join(tests)})")
    params.append(limit)
    sql = (
        "SELECT customer_id, name, address FROM portal_search_words "
        f"WHERE {' AND '.join(filters)} LIMIT {mark}"
    )
    seen: dict[int, Candidate] = {}
    for cid, name, address in session.connection().exec_driver_sql(sql, tuple(params)):
        if cid not in seen:
            seen[cid] = Candidate(int(cid), name.strip(), address.strip())
    return list(seen.values())
