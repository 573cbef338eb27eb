"""portal schema: synced customers, balances, transactions, typo dictionary, sync state, and the
backend-specific search index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL)

Revision ID: 0001
Revises:
Create Date: 2026-12-02 12:59:58.055439
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The search index (see civic.portal.store.index), written out here so this revision never
# changes when the code does.
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE portal_search USING fts5("
    "doc, name UNINDEXED, address UNINDEXED, community UNINDEXED, visible UNINDEXED, "
    "tokenize='trigram')"
)
POSTGRES_DDL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE TABLE portal_search ("
    "customer_id BIGINT PRIMARY KEY REFERENCES portal_customers (id) ON DELETE CASCADE, "
    "doc TEXT NOT NULL, name TEXT NOT NULL, address TEXT NOT NULL, "
    "community VARCHAR(20) NOT NULL, visible BOOLEAN NOT NULL)",
    "CREATE INDEX ix_portal_search_doc ON portal_search USING gin (doc gin_trgm_ops)",
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_communities",
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("hide_inactive", sa.Boolean(), nullable=False),
        sa.Column("require_online_access", sa.Boolean(), nullable=False),
        sa.Column("require_charges", sa.Boolean(), nullable=False),
        sa.Column("ineligible_services", sa.JSON(), nullable=False),
        sa.Column("sync_interval_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_portal_communities")),
    )
    op.create_table(
        "portal_customers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("community", sa.String(length=20), nullable=False),
        sa.Column("account_number", sa.String(length=9), nullable=False),
        sa.Column("account_packed", sa.String(length=8), nullable=False),
        sa.Column("account_location", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=50), nullable=True),
        sa.Column("middle_name", sa.String(length=50), nullable=True),
        sa.Column("last_name", sa.String(length=60), nullable=True),
        sa.Column("suffix", sa.String(length=10), nullable=True),
        sa.Column("business_name", sa.String(length=120), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("service_address", sa.String(length=120), nullable=True),
        sa.Column("mailing_address", sa.String(length=120), nullable=True),
        sa.Column("city", sa.String(length=60), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("zip", sa.String(length=10), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("phone_digits", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("online_access", sa.Boolean(), nullable=False),
        sa.Column("master_account", sa.String(length=9), nullable=True),
        sa.Column("merged_into_account", sa.String(length=9), nullable=True),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("ineligible_reason", sa.String(length=30), nullable=True),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("payment_status", sa.String(length=10), nullable=False),
        sa.Column("last_payment_date", sa.Date(), nullable=True),
        sa.Column("last_payment_cents", sa.BigInteger(), nullable=True),
        sa.Column("ledger_version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("synced_seq", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_customers")),
    )
    with op.batch_alter_table("portal_customers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portal_customers_account", ["account_number", "community"], unique=False
        )
        batch_op.create_index("ix_portal_customers_location", ["account_location"], unique=False)
        batch_op.create_index("ix_portal_customers_merged", ["merged_into_account"], unique=False)
        batch_op.create_index("ix_portal_customers_packed", ["account_packed"], unique=False)
        batch_op.create_index("ix_portal_customers_phone", ["phone_digits"], unique=False)

    op.create_table(
        "portal_words",
        sa.Column("word", sa.String(length=60), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("word", name=op.f("pk_portal_words")),
    )
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("snapshot_seq", sa.BigInteger(), nullable=True),
        sa.Column("snapshot_mark", sa.String(length=60), nullable=True),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latest_seq", sa.BigInteger(), nullable=True),
        sa.Column("lag_changes", sa.BigInteger(), nullable=True),
        sa.Column("lag_seconds", sa.Double(), nullable=True),
        sa.Column("applied_total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "portal_period_balances",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("service", sa.String(length=10), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("age", sa.Integer(), nullable=False),
        sa.Column("charged_cents", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["portal_customers.id"],
            name=op.f("fk_portal_period_balances_customer_id_portal_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "customer_id", "service", "period_end", name=op.f("pk_portal_period_balances")
        ),
    )
    op.create_table(
        "portal_service_balances",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("service", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("unapplied_credit_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["portal_customers.id"],
            name=op.f("fk_portal_service_balances_customer_id_portal_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "service", name=op.f("pk_portal_service_balances")),
    )
    op.create_table(
        "portal_transactions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("service", sa.String(length=10), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("txn_date", sa.Date(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("reference", sa.String(length=40), nullable=True),
        sa.Column("voids_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["portal_customers.id"],
            name=op.f("fk_portal_transactions_customer_id_portal_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_transactions")),
    )
    with op.batch_alter_table("portal_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portal_transactions_customer", ["customer_id", "txn_date"], unique=False
        )

    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_DDL)
    else:
        for statement in POSTGRES_DDL:
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS portal_search")
    with op.batch_alter_table("portal_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_transactions_customer")

    op.drop_table("portal_transactions")
    op.drop_table("portal_service_balances")
    op.drop_table("portal_period_balances")
    op.drop_table("sync_state")
    op.drop_table("portal_words")
    with op.batch_alter_table("portal_customers", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_customers_phone")
        batch_op.drop_index("ix_portal_customers_packed")
        batch_op.drop_index("ix_portal_customers_merged")
        batch_op.drop_index("ix_portal_customers_location")
        batch_op.drop_index("ix_portal_customers_account")

    op.drop_table("portal_customers")
    op.drop_table("portal_communities")
