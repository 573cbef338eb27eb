"""portal users: residents (with the accounts they proved are theirs) and staff (support, clerk)
with their communities — the one part of the portal store the sync does not write

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("login", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("communities", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('resident', 'support', 'clerk')", name=op.f("ck_portal_users_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_users")),
        sa.UniqueConstraint("login", name=op.f("uq_portal_users_login")),
    )
    op.create_table(
        "portal_user_accounts",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("community", sa.String(length=20), nullable=False),
        sa.Column("account_number", sa.String(length=9), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["portal_users.id"],
            name=op.f("fk_portal_user_accounts_user_id_portal_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "customer_id", name=op.f("pk_portal_user_accounts")),
    )
    with op.batch_alter_table("portal_user_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_portal_user_accounts_customer", ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_user_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_user_accounts_customer")
    op.drop_table("portal_user_accounts")
    op.drop_table("portal_users")
