"""merge journal

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 12:51:58.716141
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "community_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "survivor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source_before", sa.JSON(), nullable=False),
        sa.Column("survivor_before", sa.JSON(), nullable=False),
        sa.Column("survivor_after", sa.JSON(), nullable=False),
        sa.Column("orders_from", sa.Date(), nullable=True),
        sa.Column("orders_to", sa.Date(), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("pair_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=60), nullable=True),
        sa.CheckConstraint("source_id <> survivor_id", name=op.f("ck_merges_distinct")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_merges_community_id_communities")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["customers.id"], name=op.f("fk_merges_source_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"], ["customers.id"], name=op.f("fk_merges_survivor_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merges")),
    )
    with op.batch_alter_table("merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_merges_source_id"), ["source_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_merges_survivor_id"), ["survivor_id"], unique=False)

    op.create_table(
        "merge_moves",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merge_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "entity IN ('transaction', 'reading', 'order', 'certification', 'alert', 'ref', 'dependent', 'merged')",
            name=op.f("ck_merge_moves_entity"),
        ),
        sa.ForeignKeyConstraint(
            ["merge_id"], ["merges.id"], name=op.f("fk_merge_moves_merge_id_merges")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge_moves")),
    )
    with op.batch_alter_table("merge_moves", schema=None) as batch_op:
        batch_op.create_index("ix_merge_moves_merge", ["merge_id", "entity"], unique=False)

    # A plain ADD COLUMN on both backends: a batch rebuild of `customers` on SQLite would have to
    # drop a table that every ledger row references.
    fk_name = op.f("fk_customers_merged_into_id_customers")
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE customers ADD COLUMN merged_into_id INTEGER "
            f"CONSTRAINT {fk_name} REFERENCES customers (id)"
        )
    else:
        op.add_column("customers", sa.Column("merged_into_id", sa.BigInteger(), nullable=True))
        op.create_foreign_key(fk_name, "customers", "customers", ["merged_into_id"], ["id"])
    op.create_index("ix_customers_merged_into_id", "customers", ["merged_into_id"])


def downgrade() -> None:
    op.drop_index("ix_customers_merged_into_id", table_name="customers")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE customers DROP COLUMN merged_into_id")
    else:
        op.drop_constraint(
            op.f("fk_customers_merged_into_id_customers"), "customers", type_="foreignkey"
        )
        op.drop_column("customers", "merged_into_id")

    with op.batch_alter_table("merge_moves", schema=None) as batch_op:
        batch_op.drop_index("ix_merge_moves_merge")

    op.drop_table("merge_moves")
    with op.batch_alter_table("merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merges_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_merges_source_id"))

    op.drop_table("merges")
