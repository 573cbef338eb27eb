"""Customer accounts: validation naming the field, optimistic concurrency, audit, refs."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from civic.db import transaction
from civic.errors import Conflict, CustomerNotFound, InvalidInput, StaleUpdate
from civic.ledger import service
from civic.ledger.tables import AuditEntry, Customer


def _get(session, account):  # type: ignore[no-untyped-def]
    return service.get_customer(session, account)


def test_add_and_find_in_any_account_format(town, engine) -> None:
    town.customer("Jane O'Brien", account="1234-1", service_address="12 Main St", state="il")
    with transaction(engine) as s:
        for form in ("001234-01", "1234-1", "00123401"):
            c = _get(s, form)
            assert (c.account_number, c.last_name, c.state) == ("001234-01", "O'Brien", "IL")
        view = service.to_view(s, _get(s, "1234-1"))
        assert view.display_name == "Jane O'Brien"
        assert view.version == 1 and view.status == "active" and view.online_access


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"last_name": "X" * 61}, "last_name"),
        ({"last_name": "Lee", "email": "not-an-email"}, "email"),
        ({"last_name": "Lee", "state": "Illinois"}, "state"),
        ({"last_name": "Lee", "zip": "123"}, "zip"),
        ({"last_name": "Lee", "phone": "12"}, "phone"),
        ({"last_name": "Lee", "status": "gone"}, "status"),
        ({"last_name": "Lee", "online_access": "maybe"}, "online_access"),
        ({"last_name": "Lee", "created_date": "31/31/2020"}, "created_date"),
        ({"first_name": "Ann"}, "last_name"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_written(town, engine, values, field) -> None:
    town.customer("Someone Else")  # creates the community
    with pytest.raises(InvalidInput) as err, transaction(engine) as s:
        service.add_customer(s, service.get_community(s), "2000-01", values, actor="t")
    assert field in err.value.message
    with transaction(engine) as s:
        assert s.scalar(select(Customer).where(Customer.account_number == "002000-01")) is None


def test_duplicate_account_number_is_refused(town) -> None:
    town.customer("Ann Lee", account="3000-01")
    with pytest.raises(Conflict, match="already exists"):
        town.customer("Bob Lee", account="003000-01")


def test_update_is_audited_with_old_and_new_values(town, engine) -> None:
    town.customer("Ann Lee", account="3000-01", phone="555-0100 x1")
    with transaction(engine) as s:
        diff = service.update_customer(
            s,
            _get(s, "3000-01"),
            {"phone": "(217) 555-0199", "city": "Springfield"},
            actor="clerk7",
        )
    assert diff == {"phone": ["555-0100 x1", "(217) 555-0199"], "city": [None, "Springfield"]}
    with transaction(engine) as s:
        c = _get(s, "3000-01")
        assert c.version == 2
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.customer_id == c.id).order_by(AuditEntry.id.desc())
        ).first()
        assert entry is not None
        assert (entry.actor, entry.action) == ("clerk7", "customer.update")
        assert entry.changes["phone"] == ["555-0100 x1", "(217) 555-0199"]


def test_stale_expected_version_is_refused(town, engine) -> None:
    town.customer("Ann Lee", account="3000-01")
    with transaction(engine) as s:
        service.update_customer(s, _get(s, "3000-01"), {"city": "A"}, actor="a", expected_version=1)
    with pytest.raises(StaleUpdate, match="changed by someone else"), transaction(engine) as s:
        service.update_customer(s, _get(s, "3000-01"), {"city": "B"}, actor="b", expected_version=1)
    with transaction(engine) as s:
        assert _get(s, "3000-01").city == "A"


def test_concurrent_writer_is_never_silently_overwritten(town, engine) -> None:
    """Two clerks load version 1; the second to write is refused, not applied over the first."""
    from sqlalchemy.orm import Session

    town.customer("Ann Lee", account="3000-01")
    first = Session(engine, expire_on_commit=False)
    stale = _get(first, "3000-01")
    assert stale.version == 1
    first.commit()  # end the read transaction, keep the loaded (soon stale) object
    with transaction(engine) as s:
        service.update_customer(s, _get(s, "3000-01"), {"city": "Winner"}, actor="a")
    with pytest.raises(StaleUpdate):
        service.update_customer(first, stale, {"city": "Loser"}, actor="b")
    first.rollback()
    first.close()
    with transaction(engine) as s:
        assert _get(s, "3000-01").city == "Winner"


def test_close_refuses_new_charges_but_keeps_history(town, engine) -> None:
    ann = town.customer("Ann Lee", account="3000-01")
    ann.charge("WA", "10.00", "2024-01-05")
    with transaction(engine) as s:
        service.close_customer(s, _get(s, "3000-01"), actor="t")
    with pytest.raises(Conflict, match="closed"):
        ann.charge("WA", "10.00", "2024-02-05")
    ann.pay("10.00", "2024-02-10")
    assert ann.balance().total == 0


def test_blank_status_in_an_update_leaves_a_closed_account_closed(town, engine) -> None:
    town.customer("Ann Lee", account="3000-01")
    with transaction(engine) as s:
        service.close_customer(s, _get(s, "3000-01"), actor="t")
    with transaction(engine) as s:
        diff = service.update_customer(
            s, _get(s, "3000-01"), {"status": " ", "city": "X"}, actor="t"
        )
        assert diff == {"city": [None, "X"]}
    with transaction(engine) as s:
        assert _get(s, "3000-01").status == "closed"


def test_references_are_normalised_and_kept_once(town, engine) -> None:
    town.customer("Ann Lee", account="3000-01", refs=[("ssr", "SSR1234567")])
    with transaction(engine) as s:
        c = _get(s, "3000-01")
        assert not service.add_ref(s, c, "ssr", " ssr 1234567", actor="t")
        assert service.add_ref(s, c, "parcel", "12-34-567", actor="t")
        comm = service.get_community(s)
        assert service.find_by_ref(s, comm, "SSR", "SSR-1234567") == [c.id]
        assert [(r.ref_type, r.normalized) for r in c.refs] == [
            ("ssr", "SSR1234567"),
            ("parcel", "1234567"),
        ]


def test_master_account_for_consolidated_billing(town, engine) -> None:
    town.customer("Acme Apartments", account="5000-01", business=True)
    town.customer("Ann Lee", account="5001-01", master_account="5000-01")
    with transaction(engine) as s:
        assert service.to_view(s, _get(s, "5001-01")).master_account == "005000-01"
        with pytest.raises(InvalidInput, match="own master"):
            service.update_customer(s, _get(s, "5000-01"), {"master_account": "5000-01"}, actor="t")


def test_unknown_account_is_a_clear_error(town, engine) -> None:
    town.customer("Ann Lee")
    with pytest.raises(CustomerNotFound, match="009999-01"), transaction(engine) as s:
        _get(s, "9999-1")


def test_alerts_append_and_clear(town, engine) -> None:
    town.customer("Ann Lee", account="3000-01")
    with transaction(engine) as s:
        c = _get(s, "3000-01")
        service.add_alert(s, c, "Tax certified 2024", actor="t")
        service.add_alert(s, c, "Call before shutoff", actor="t")
    with transaction(engine) as s:
        c = _get(s, "3000-01")
        assert service.to_view(s, c).alerts == ("Tax certified 2024", "Call before shutoff")
        assert service.clear_alerts(s, c, actor="t") == 2
        assert service.to_view(s, c).alerts == ()
