"""portal search word table: one row per customer and word of its name and service address
(with its community, visibility, folded name and address), filled from the search index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Written out here (see civic.portal.store.index) so this revision never changes when the code
# does. Primary key (word, customer id): a word's customers are one B-tree range on both
# backends; PostgreSQL carries the ranking columns in the index (index-only scans). Name and
# address are stored with a space either side (a whole word is a substring: " jon ").
SQLITE_DDL = (
    "CREATE TABLE portal_search_words ("
    "word TEXT NOT NULL, customer_id INTEGER NOT NULL, community TEXT NOT NULL, "
    "visible INTEGER NOT NULL, name TEXT NOT NULL, address TEXT NOT NULL, "
    "PRIMARY KEY (word, customer_id)) WITHOUT ROWID",
    "CREATE INDEX ix_portal_search_words_customer ON portal_search_words (customer_id)",
)
POSTGRES_DDL = (
    "CREATE TABLE portal_search_words ("
    "word TEXT NOT NULL, "
    "customer_id BIGINT NOT NULL REFERENCES portal_customers (id) ON DELETE CASCADE, "
    "community VARCHAR(20) NOT NULL, visible BOOLEAN NOT NULL, "
    "name TEXT NOT NULL, address TEXT NOT NULL, "
    "CONSTRAINT pk_portal_search_words PRIMARY KEY (word, customer_id) "
    "INCLUDE (community, visible, name, address))",
    "CREATE INDEX ix_portal_search_words_customer ON portal_search_words (customer_id)",
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 20_000


def _words(name: str, address: str) -> list[str]:
    return sorted({w for w in f"{name} {address}".split() if len(w) >= 3 and w.isalpha()})


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    for statement in SQLITE_DDL if sqlite else POSTGRES_DDL:
        op.execute(statement)
    # Every customer already indexed gets its words (the sync writes them from now on): the
    # folded name and address are ``[a-z0-9 ]``, so alphabetic means ``[a-z]+``.
    if not sqlite:
        op.execute(
            "INSERT INTO portal_search_words (word, customer_id, community, visible, name, address) "
            "SELECT DISTINCT w, customer_id, community, visible, ' ' || name || ' ', "
            "' ' || address || ' ' FROM portal_search, "
            "regexp_split_to_table(name || ' ' || address, ' ') AS w WHERE w ~ '^[a-z]{3,}$'"
        )
        return
    key = "rowid"
    insert = sa.text(
        "INSERT INTO portal_search_words (word, customer_id, community, visible, name, address) "
        "VALUES (:w, :id, :community, :visible, :name, :address)"
    )
    last = -1
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT {key}, name, address, community, visible FROM portal_search "
                f"WHERE {key} > :last ORDER BY {key} LIMIT {BATCH}"
            ),
            {"last": last},
        ).all()
        if not rows:
            break
        values = [
            {
                "w": w,
                "id": cid,
                "community": community,
                "visible": visible,
                "name": f" {name} ",
                "address": f" {address} ",
            }
            for cid, name, address, community, visible in rows
            for w in _words(name, address)
        ]
        if values:
            bind.execute(insert, values)
        last = rows[-1][0]


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS portal_search_words")
