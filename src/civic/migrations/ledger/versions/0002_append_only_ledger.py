"""The database itself keeps ledger rows append-only.

A transaction row can never be deleted, and none of its facts (amount, kind, service, period,
dates, description, reference, void target, who posted it) can change. Only ``customer_id`` may
change, which is how a merge moves a row to the surviving account (and how undo moves it back).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MESSAGE = "ledger rows are append-only: post a correcting row instead"
FACTS = (
    "id",
    "service_id",
    "period_id",
    "kind",
    "amount_cents",
    "txn_date",
    "description",
    "reference",
    "voids_id",
    "posted_by",
    "posted_at",
    "import_key",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FACTS)
        op.execute(
            "CREATE TRIGGER transactions_append_only_delete BEFORE DELETE ON transactions "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        op.execute(
            "CREATE TRIGGER transactions_append_only_update BEFORE UPDATE ON transactions "
            f"WHEN {changed} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        return
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FACTS)
    op.execute(
        f"""
        CREATE FUNCTION transactions_append_only() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR ({changed}) THEN
                RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions "
        "FOR EACH ROW EXECUTE FUNCTION transactions_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER transactions_append_only_delete")
        op.execute("DROP TRIGGER transactions_append_only_update")
        return
    op.execute("DROP TRIGGER transactions_append_only ON transactions")
    op.execute("DROP FUNCTION transactions_append_only()")
