"""Portal users in the store: the registration rule, linking, staff users, sign-in."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from civic.db import read_only, transaction
from civic.errors import Conflict, InvalidInput, NotFound
from civic.portal.store import users
from civic.sync.feeds import LedgerFeed
from civic.sync.run import sync_once
from tests.builders import Town
from tests.portal.web.conftest import PASSWORD, town_of_two
from tests.sync.helpers import TODAY


@pytest.fixture
def synced(engine: Engine, portal: Engine) -> Engine:
    town_of_two(engine, portal)
    return portal


def _id(portal: Engine, account: str) -> int:
    from civic.portal.store.read import customer_by_account

    with read_only(portal) as s:
        row = customer_by_account(s, account)
        assert row is not None
        return row.id


def test_last_bill_is_the_newest_period_with_charges(synced: Engine) -> None:
    with read_only(synced) as s:
        bill = users.last_bill(s, _id(synced, "001234-01"))
        assert bill is not None and bill.amount == 7051 and bill.period_end <= TODAY
        assert users.last_bill(s, _id(synced, "005001-01")) is None  # Nora: no charges


def test_register_proves_account_name_and_last_bill(synced: Engine) -> None:
    with transaction(synced) as s:
        user, customer = users.register_resident(
            s, "Jane@Example.com", PASSWORD, account="00123401", name="obrien", bill_amount=7051
        )
        assert user.login == "jane@example.com" and customer.account_number == "001234-01"
    bad = [
        ("1234-1", "O'Brien", 6827),  # an older bill
        ("1234-1", "Smith", 7051),  # wrong name
        ("1240-1", "O'Brien", 7051),  # another account's bill
        ("3001-1", "Closed", 1000),  # not shown in the portal (closed)
        ("9999-1", "Nobody", 100),
    ]
    for account, name, amount in bad:
        with pytest.raises(users.ProofRefused) as refused, transaction(synced) as s:
            users.register_resident(
                s, "x@example.com", PASSWORD, account=account, name=name, bill_amount=amount
            )
        assert "do not match" in refused.value.message
    with pytest.raises(InvalidInput), transaction(synced) as s:
        users.register_resident(
            s, "x@example.com", PASSWORD, account="abc", name="O'Brien", bill_amount=7051
        )
    with pytest.raises(Conflict), transaction(synced) as s:
        users.register_resident(
            s, "jane@example.com", PASSWORD, account="1234-1", name="O'Brien", bill_amount=7051
        )


def test_a_business_proves_with_its_name(engine: Engine, portal: Engine) -> None:
    from tests.builders import Town

    Town(engine).customer("Acme Hardware", "6101-1", business=True).charge(
        "WA", "99.00", "2026-10-15"
    )
    from civic.sync.feeds import LedgerFeed
    from civic.sync.run import sync_once

    sync_once(LedgerFeed(engine, today=TODAY), portal)
    with transaction(portal) as s:
        users.register_resident(
            s, "acme@example.com", PASSWORD, account="6101-1", name="ACME hardware",
            bill_amount=9900,
        )  # fmt: skip


def test_a_resident_links_every_account_they_hold(synced: Engine) -> None:
    with transaction(synced) as s:
        jane, _ = users.register_resident(
            s, "jane@example.com", PASSWORD, account="1234-1", name="O'Brien", bill_amount=7051
        )
        users.link_account(s, jane, account="1240-1", name="O'Brien", bill_amount=1234)
        with pytest.raises(Conflict):
            users.link_account(s, jane, account="1240-1", name="O'Brien", bill_amount=1234)
    with read_only(synced) as s:
        linked = users.resident_accounts(s, jane)
        assert [a.account_number for a in linked] == ["001234-01", "001240-01"]
        assert users.viewable(s, jane, "SPRINGFIELD", "001240-01") is not None
        assert users.viewable(s, jane, "SPRINGFIELD", "002001-01") is None
        assert users.viewable(s, jane, "RIVERTON", "002901-01") is None


def test_staff_users_and_sign_in(synced: Engine) -> None:
    with transaction(synced) as s:
        sam = users.add_staff_user(s, "Sam", PASSWORD, role="support", communities=["springfield"])
        assert sam.communities == ("SPRINGFIELD",) and sam.is_staff and not sam.is_clerk
        with pytest.raises(NotFound):
            users.add_staff_user(s, "zed", PASSWORD, role="clerk", communities=["NOWHERE"])
        with pytest.raises(InvalidInput):
            users.add_staff_user(s, "zed", PASSWORD, role="admin", communities=["RIVERTON"])
    with read_only(synced) as s:
        assert users.authenticate(s, "sam", PASSWORD) == sam
        assert users.authenticate(s, "sam", "wrong password") is None
        assert users.authenticate(s, "nobody", PASSWORD) is None
        assert users.viewable(s, sam, "SPRINGFIELD", "003001-01") is not None  # hidden, staff
        assert users.viewable(s, sam, "RIVERTON", "002901-01") is None
    with transaction(synced) as s:
        users.disable_user(s, "sam")
    with read_only(synced) as s:
        assert users.authenticate(s, "sam", PASSWORD) is None
        assert users.get_user(s, sam.id) is None


def test_a_merged_away_account_leads_to_the_survivor(engine: Engine, synced: Engine) -> None:
    from civic.sync.feeds import LedgerFeed
    from civic.sync.run import sync_once
    from tests.sync.helpers import merge

    with transaction(synced) as s:
        jane, _ = users.register_resident(
            s, "jane@example.com", PASSWORD, account="1240-1", name="O'Brien", bill_amount=1234
        )
    merge(engine, "1240-1", "1234-1")
    sync_once(LedgerFeed(engine, today=TODAY), synced)
    with read_only(synced) as s:
        [linked] = users.resident_accounts(s, jane)
        assert linked.customer is not None and linked.account_number == "001234-01"
        assert linked.merged_from == "001240-01"
        assert users.viewable(s, jane, "SPRINGFIELD", "001234-01") is not None
        assert users.viewable(s, jane, "SPRINGFIELD", "001240-01") is None


def test_a_late_fee_after_the_bill_is_not_a_new_bill(engine: Engine, synced: Engine) -> None:
    """The last bill is the newest period's service charges: a fee alone (posted in a later
    period) does not change it; every service's charges of that period count."""
    lou = Town(engine).customer("Lou Late", "7100-1")
    lou.charge("WA", "40.00", "2026-09-15").charge("SE", "2.50", "2026-09-15")
    lou.fee("WA", "5.00", "2026-09-20").fee("WA", "10.00", "2026-10-25")
    sync_once(LedgerFeed(engine, today=TODAY), synced)
    with read_only(synced) as s:
        assert users.last_bill(s, _id(synced, "007100-01")) == users.Bill(date(2026, 9, 30), 4250)
