"""import holds (rows held for review at import instead of creating a customer)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:03:09.342030
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "import_holds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "community_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("file", sa.String(length=255), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("row_key", sa.String(length=64), nullable=False),
        sa.Column("account_number", sa.String(length=9), nullable=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column(
            "candidate_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("match_weight", sa.Float(), nullable=True),
        sa.Column("match_probability", sa.Float(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("held_by", sa.String(length=60), nullable=False),
        sa.Column("decided_by", sa.String(length=60), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('customers', 'orders')", name=op.f("ck_import_holds_kind")),
        sa.CheckConstraint(
            "status IN ('held', 'released', 'attached')", name=op.f("ck_import_holds_status")
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"], ["customers.id"], name=op.f("fk_import_holds_candidate_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_import_holds_community_id_communities"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_import_holds_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_holds")),
    )
    with op.batch_alter_table("import_holds", schema=None) as batch_op:
        batch_op.create_index("ix_import_holds_queue", ["community_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_holds_row_key"), ["row_key"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("import_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_holds_row_key"))
        batch_op.drop_index("ix_import_holds_queue")

    op.drop_table("import_holds")
