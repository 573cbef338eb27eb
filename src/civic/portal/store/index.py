"""The search index, the one place where SQLite and PostgreSQL differ.

Both hold, per customer, one folded document (names, service address, account number in its
spellings, phone digits) with the customer's community and whether residents may see it, and
both answer "which customers contain every (or any) of these fragments" by substring:

- SQLite: an FTS5 table with the ``trigram`` tokenizer, ``rowid`` = customer id.
- PostgreSQL: a plain table with a ``pg_trgm`` GIN index on the document, queried with
  ``LIKE '%fragment%'`` (which the trigram index serves).

The sync writes the index in the same transaction as the customer's rows, so a customer is
searchable the moment its sync commits. Fragments shorter than three characters cannot use a
trigram index; the caller drops them from the candidate query and uses them in the ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

MIN_FRAGMENT = 3
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
    else:
        from civic.portal.store.bulk import raw_copy

        raw_copy(
            session,
            "COPY portal_search (customer_id, doc, name, address, community, visible) FROM STDIN",
            [(r.customer_id, r.doc, r.name, r.address, r.community, r.visible) for r in rows],
        )


def remove(session: Session, customer_ids: Sequence[int]) -> None:
    if not customer_ids:
        return
    key = "rowid" if _is_sqlite(session) else "customer_id"
    stmt = text(f"DELETE FROM portal_search WHERE {key} IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    session.execute(stmt, {"ids": list(customer_ids)})


def set_visible(session: Session, visible: dict[int, bool]) -> None:
    """Change only whether residents may see these customers (a rule changed)."""
    if not visible:
        return
    if _is_sqlite(session):
        session.execute(
            text("UPDATE portal_search SET visible = :v WHERE rowid = :id"),
            [{"id": i, "v": 1 if v else 0} for i, v in visible.items()],
        )
    else:
        session.execute(
            text("UPDATE portal_search SET visible = :v WHERE customer_id = :id"),
            [{"id": i, "v": v} for i, v in visible.items()],
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
