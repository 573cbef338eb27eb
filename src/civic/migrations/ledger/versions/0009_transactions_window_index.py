"""an index on transactions (customer_id, txn_date, id): the portal sync's window fingerprint
(count, sum and sum of squares of the ids of a customer's rows since a date) reads the index
alone instead of every row of the window from the table

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_transactions_customer_date", "transactions", ["customer_id", "txn_date", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_customer_date", table_name="transactions")
