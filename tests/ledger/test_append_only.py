"""The database refuses to change or delete a posted ledger row; only the account may move."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from civic.db import transaction
from civic.errors import Conflict
from civic.ledger import service
from civic.ledger.tables import Transaction


@pytest.mark.parametrize(
    "stmt",
    [
        update(Transaction).values(amount_cents=1),
        update(Transaction).values(description="edited"),
        update(Transaction).values(kind="PADJ"),
        delete(Transaction),
    ],
    ids=["amount", "description", "kind", "delete"],
)
def test_posted_rows_cannot_change(town, engine, stmt) -> None:
    town.customer("Ann Lee").charge("WA", "10.00", "2024-01-05")
    with pytest.raises(Conflict, match="append-only"), transaction(engine) as s:
        s.execute(stmt)
    with transaction(engine) as s:
        (row,) = s.scalars(select(Transaction))
        assert (row.amount_cents, row.kind, row.description) == (1000, "CHG", None)


def test_a_row_may_move_to_another_account(town, engine) -> None:
    town.customer("Ann Lee", account="1000-01").charge("WA", "10.00", "2024-01-05")
    town.customer("Ann Lee", account="2000-01")
    with transaction(engine) as s:
        target = service.get_customer(s, "2000-01")
        s.execute(update(Transaction).values(customer_id=target.id))
    with transaction(engine) as s:
        assert service.total_balance(s, service.get_customer(s, "2000-01").id) == 1000
