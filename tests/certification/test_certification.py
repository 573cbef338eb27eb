"""Tax certification (seed 004), built through the public services."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from civic.certification.compute import certifiable_amounts, certification_cutoff
from civic.certification.run import CreateOptions, create_certifications, update_balances
from civic.certification.tables import CertificationPosting
from civic.db import transaction
from civic.errors import Conflict, InvalidInput
from civic.ledger import service
from civic.ledger.tables import Transaction
from civic.money import parse_amount

# Seed 004: periods and the unpaid amount of each; the current period is 4/30/2011.
SEED = [
    ("2010-12-15", "68.27"),
    ("2011-01-15", "70.51"),
    ("2011-02-15", "65.77"),
    ("2011-03-15", "68.88"),
]
CERT_DATE = date(2011, 4, 30)


def seed_customer(town, account="001000-01", name="Jane O'Brien"):  # type: ignore[no-untyped-def]
    jane = town.customer(name, account=account)
    for on, amount in SEED:
        jane.charge("WA", amount, on)
    jane.charge("WA", "59.10", "2011-04-10")  # April billed and paid: 0.00 outstanding
    jane.pay("59.10", "2011-04-20", svc="WA")
    return jane


def create(engine, **kw):  # type: ignore[no-untyped-def]
    options = CreateOptions(
        cert_date=kw.pop("cert_date", CERT_DATE), period=kw.pop("period", CERT_DATE), **kw
    )
    with transaction(engine) as s:
        return create_certifications(s, service.get_community(s), options, actor="clerk")


def apply(engine, on=date(2011, 5, 2), **kw):  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        return update_balances(s, service.get_community(s), posted_date=on, actor="clerk", **kw)


def test_pure_rule_matches_the_seed() -> None:
    cutoff = certification_cutoff(date(2011, 4, 30), 2)
    assert cutoff == date(2011, 2, 28)
    charged = [
        (date(2010, 12, 31), 6827),
        (date(2011, 1, 31), 7051),
        (date(2011, 2, 28), 6577),
        (date(2011, 3, 31), 6888),
        (date(2011, 4, 30), 5910),
    ]
    certified = certifiable_amounts(charged, 5910, cutoff)
    # The April payment paid December first (oldest period first): 59.10 of 68.27.
    assert certified == {date(2010, 12, 31): 917, date(2011, 1, 31): 7051, date(2011, 2, 28): 6577}


def test_seed_example_certifies_204_55(town, engine) -> None:
    """Charges 12/31/2010 68.27, 1/31 70.51, 2/28 65.77, 3/31 68.88 unpaid, 4/30 0.00: a
    two-period certification period certifies 65.77 + 70.51 + 68.27 = 204.55."""
    jane = town.customer("Jane O'Brien", account="001000-01")
    for on, amount in SEED:
        jane.charge("WA", amount, on)
    assert jane.balance().total == parse_amount("273.43")
    result = create(engine, fee=parse_amount("25.00"))
    assert result.certified_customers == 1
    assert result.certified_cents == parse_amount("204.55")
    assert result.current_period_end == date(2011, 4, 30)
    applied = apply(engine)
    assert (applied.applied, applied.adjustments, applied.fees) == (1, 3, 1)
    assert applied.adjusted_cents == parse_amount("204.55")
    # Balance falls by the certified amount; the fee is a separate transaction.
    assert jane.balance().total == parse_amount("273.43") - parse_amount("204.55") + 2500
    with transaction(engine) as s:
        kinds = [
            (t.kind, t.amount)
            for t in service.history(s, service.get_customer(s, "1000-01"))
            if t.kind in ("PADJ", "FEE")
        ]
    assert sorted(kinds) == [("FEE", 2500), ("PADJ", -7051), ("PADJ", -6827), ("PADJ", -6577)]


def test_fees_are_not_certified(town, engine) -> None:
    ann = town.customer("Ann Lee", account="002000-01")
    ann.charge("WA", "10.00", "2011-01-15")
    ann.fee("WA", "5.00", "2011-01-20")
    assert create(engine).certified_cents == 1000


def test_applied_exactly_once_whatever_the_dates(town, engine) -> None:
    town.customer("Ann Lee", account="002000-01").charge("WA", "10.00", "2011-01-15")
    create(engine)
    assert apply(engine, on=date(2011, 5, 1)).applied == 1
    # The seed's trap: running again (same or another date) must not post again.
    for on in (date(2011, 5, 1), date(2011, 6, 30)):
        again = apply(engine, on=on)
        assert (again.applied, again.adjustments) == (0, 0)
    with transaction(engine) as s:
        assert (
            s.scalar(
                select(func.count()).select_from(Transaction).where(Transaction.kind == "PADJ")
            )
            == 1
        )


def test_the_database_refuses_a_second_application(town, engine) -> None:
    town.customer("Ann Lee", account="002000-01").charge("WA", "10.00", "2011-01-15")
    create(engine)
    apply(engine)
    with pytest.raises(Conflict, match="already exists"), transaction(engine) as s:
        posting = s.scalars(select(CertificationPosting)).one()
        s.add(
            CertificationPosting(
                certification_id=posting.certification_id,
                generation=1,
                kind="apply",
                posted_date=date(2011, 6, 1),
                posted_at=posting.posted_at,
                posted_by="sneaky",
            )
        )
        s.flush()


def test_reapply_reverses_then_applies_and_keeps_both(town, engine) -> None:
    ann = town.customer("Ann Lee", account="002000-01")
    ann.charge("WA", "10.00", "2011-01-15")
    create(engine, fee=parse_amount("2.00"))
    apply(engine)
    after_first = ann.balance().total
    result = apply(engine, on=date(2011, 6, 1), reapply=True)
    assert (result.applied, result.reapplied) == (0, 1)
    assert ann.balance().total == after_first
    with transaction(engine) as s:
        rows = service.history(s, service.get_customer(s, "2000-01"))
    padj = [t.amount for t in rows if t.kind == "PADJ"]
    assert sorted(padj) == [-1000, -1000, -200, 1000]  # apply, reversal (+fee reversal), apply


def test_date_before_certification_date_is_refused(town, engine) -> None:
    town.customer("Ann Lee", account="002000-01").charge("WA", "10.00", "2011-01-15")
    create(engine)
    with pytest.raises(InvalidInput, match="before certification run"):
        apply(engine, on=date(2011, 4, 29))


def test_collection_codes_assign_or_replace(town, engine) -> None:
    town.customer("Ann Lee", account="002000-01", collection_code="OLD").charge(
        "WA", "10.00", "2011-01-15"
    )
    town.customer("Bob Lee", account="003000-01").charge("WA", "10.00", "2011-01-15")
    town.customer("Cy Lee", account="004000-01", collection_code="OLD")  # nothing owed
    assert create(engine, collection_code="TC").collection_codes_assigned == 1
    codes = _field(engine, "collection_code")
    assert codes == {"002000-01": "OLD", "003000-01": "TC", "004000-01": "OLD"}
    apply(engine)
    for acct in ("002000-01", "003000-01"):
        town.customer("x", account=acct.replace("-01", "-02")).charge("WA", "1", "2011-01-15")
    # A second run with replace gives the new code to every certified customer.
    create(
        engine,
        collection_code="TC2",
        replace_collection_code=True,
        cert_date=date(2011, 5, 31),
        period=date(2011, 5, 31),
    )
    assert _field(engine, "collection_code")["002000-02"] == "TC2"


def test_alert_messages_skip_append_replace(town, engine) -> None:
    for i, alert in enumerate(["Existing", None, "Existing"]):
        c = town.customer(f"P{i} Lee", account=f"00{i + 2}000-01")
        c.charge("WA", "10.00", "2011-01-15")
        if alert:
            with transaction(engine) as s:
                service.add_alert(s, service.get_customer(s, c.account_number), alert, actor="t")
    result = create(engine, alert_message="Certified {year}", alert_mode="skip")
    assert result.alerts_added == 1
    with transaction(engine) as s:
        alerts = {
            c.account_number: service.to_view(s, c).alerts
            for c in service.list_customers(s, limit=10)[0]
        }
    assert alerts == {
        "002000-01": ("Existing",),
        "003000-01": ("Certified 2011",),
        "004000-01": ("Existing",),
    }


@pytest.mark.parametrize(
    "mode,expected", [("append", ("Existing", "Certified 2011")), ("replace", ("Certified 2011",))]
)
def test_alert_append_and_replace(town, engine, mode, expected) -> None:
    c = town.customer("Ann Lee", account="002000-01")
    c.charge("WA", "10.00", "2011-01-15")
    with transaction(engine) as s:
        service.add_alert(s, service.get_customer(s, "2000-01"), "Existing", actor="t")
    create(engine, alert_message="Certified {year}", alert_mode=mode)
    with transaction(engine) as s:
        assert service.to_view(s, service.get_customer(s, "2000-01")).alerts == expected


def test_selection_criteria_limit_the_run(town, engine) -> None:
    seed_customer(town, "001000-01", "Jane O'Brien")
    seed_customer(town, "002000-01", "Bob Smith")
    result = create(engine, where="last_name = smith")
    assert result.certified_customers == 1


def test_a_pending_certification_is_not_created_twice(town, engine) -> None:
    town.customer("Ann Lee", account="002000-01").charge("WA", "10.00", "2011-01-15")
    assert create(engine).certified_customers == 1
    again = create(engine)
    assert (again.certified_customers, again.skipped_pending) == (0, 1)
    apply(engine)
    # Once applied, the certified periods are paid by the adjustments: nothing to certify.
    assert create(engine).certified_customers == 0


def _field(engine, name):  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        return {c.account_number: getattr(c, name) for c in service.list_customers(s, limit=50)[0]}


def test_a_long_notice_still_fits_one_page(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from civic.certification.report import CertificationView, CertifiedPeriod, write_pdf
    from civic.ledger.periods import previous_period_end
    from civic.ledger.tables import Community
    from civic.money import Cents

    end, lines = date(2026, 8, 31), []
    for _ in range(24):
        lines += [CertifiedPeriod(code, end, Cents(1234)) for code in ("GA", "SE", "WA")]
        end = previous_period_end(end)
    view = CertificationView(
        id=1,
        run_id=1,
        cert_date=CERT_DATE,
        description="Tax Certification 2011",
        account_number="001000-01",
        name="Jane O'Brien",
        service_address="12 Main St",
        mailing_address=None,
        amount=Cents(1234 * 72),
        fee=Cents(2500),
        status="pending",
        lines=tuple(lines),
    )
    pages = write_pdf([view, view], tmp_path / "n.pdf", Community(code="X", name="Town"))
    assert pages == 3
