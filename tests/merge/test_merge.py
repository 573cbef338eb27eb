"""Merging duplicate records: preview changes nothing, apply moves everything in one
transaction, guards refuse what must not happen, undo restores exactly — on both backends."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from civic.db import transaction
from civic.errors import Conflict
from civic.ledger import service
from civic.ledger.tables import (
    AlertMessage,
    AuditEntry,
    Customer,
    CustomerRef,
    MeterReading,
    Order,
    OutboxEntry,
    Transaction,
)
from civic.merge.apply import apply_merge, undo_merge
from civic.merge.plan import make_plan
from tests.builders import Town


def _c(s: Any, account: str) -> Customer:
    return service.get_customer(s, account)


def state(engine: Engine, account: str) -> dict[str, Any]:
    """Everything a merge touches for one record, as plain values."""
    with transaction(engine) as s:
        c = _c(s, account)
        return {
            "fields": {
                k: getattr(c, k)
                for k in (
                    "first_name",
                    "last_name",
                    "service_address",
                    "phone",
                    "email",
                    "status",
                    "merged_into_id",
                    "master_customer_id",
                )
            },
            "txns": sorted(
                s.scalars(select(Transaction.id).where(Transaction.customer_id == c.id))
            ),
            "readings": sorted(
                s.scalars(select(MeterReading.id).where(MeterReading.customer_id == c.id))
            ),
            "orders": sorted(
                s.scalars(select(Order.order_number).where(Order.customer_id == c.id))
            ),
            "refs": sorted(
                (r.ref_type, r.value)
                for r in s.scalars(select(CustomerRef).where(CustomerRef.customer_id == c.id))
            ),
            "alerts": sorted(
                s.scalars(select(AlertMessage.message).where(AlertMessage.customer_id == c.id))
            ),
            "balance": int(service.total_balance(s, c.id)),
        }


@pytest.fixture
def pair(town: Town, engine: Engine) -> tuple[str, str]:
    """A survivor and a duplicate created twice with a typo, each with its own history."""
    keep = town.customer(
        "Jane Smith", account="1000-01", service_address="12 Main St", refs=[("ssr", "SSR-1234567")]
    )
    dup = town.customer(
        "Jane Smyth",
        account="2000-01",
        service_address="12 Main Street",
        phone="217-555-0101",
        email="jane@example.org",
        refs=[("ssr", "ssr 1234567"), ("parcel", "P-77")],
    )
    keep.charge("WA", "40.00", "2024-01-05")
    dup.charge("WA", "68.27", "2024-01-05").charge("SE", "20.00", "2024-02-05")
    dup.pay("30.00", "2024-02-10", ref="CHK 101")
    with transaction(engine) as s:
        d = _c(s, "2000-01")
        service.add_reading(s, d, "M-9", 1200, date(2024, 1, 31), actor="t")
        service.add_order(
            s, d, "PO-1", date(2023, 1, 1), actor="t", status="closed", end_date=date(2023, 6, 30)
        )
        service.add_alert(s, d, "Dog in yard", actor="t")
    return keep.account_number, dup.account_number


def test_preview_shows_fields_moves_and_balances_and_changes_nothing(engine, pair) -> None:
    keep, dup = pair
    before = (state(engine, keep), state(engine, dup))
    with transaction(engine) as s:
        plan = make_plan(s, _c(s, dup), _c(s, keep))
    assert not plan.refusals and not plan.needs_force
    assert plan.changes == {
        "phone": [None, "217-555-0101"],
        "email": [None, "jane@example.org"],
    }  # survivor's values kept, blanks filled from the source
    counts = {m.entity: len(m.ids) for m in plan.moves}
    assert counts == {
        "transaction": 3,
        "reading": 1,
        "order": 1,
        "certification": 0,
        "alert": 1,
        "ref": 1,  # the parcel number; the SSR reference is already on the survivor
        "dependent": 0,
        "merged": 0,
    }
    assert plan.move("ref").drop and plan.move("transaction").amount_cents == 5827
    assert plan.balance_before == {"source": 5827, "survivor": 4000}
    assert plan.balance_after == {"source": 0, "survivor": 9827}
    assert (state(engine, keep), state(engine, dup)) == before


def test_apply_moves_everything_and_leaves_a_pointer(engine, pair) -> None:
    keep, dup = pair
    seq_before = _max_seq(engine)
    with transaction(engine) as s:
        result = apply_merge(s, _c(s, dup), _c(s, keep), actor="clerk")
    after_keep, after_dup = state(engine, keep), state(engine, dup)
    assert after_keep["balance"] == 9827 and after_dup["balance"] == 0
    assert len(after_keep["txns"]) == 4 and after_dup["txns"] == []
    assert after_keep["readings"] and after_keep["orders"] == ["PO-1"]
    assert after_keep["alerts"] == ["Dog in yard"]
    # seed 003: every reference ends up on the active record, none duplicated
    assert after_keep["refs"] == [("parcel", "P-77"), ("ssr", "SSR-1234567")]
    assert after_dup["refs"] == [] and after_dup["fields"]["status"] == "inactive"
    assert after_keep["fields"]["phone"] == "217-555-0101"
    with transaction(engine) as s:
        view = service.to_view(s, _c(s, dup))
        assert view.merged_into == keep
        feed = s.execute(
            select(OutboxEntry.customer_id, OutboxEntry.op).where(OutboxEntry.seq > seq_before)
        ).all()
        assert {op for _, op in feed} == {"merge"}
        assert {cid for cid, _ in feed} == {_c(s, keep).id, _c(s, dup).id}
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.entity_id.isnot(None)))
        assert {"customer.merge", "customer.merged_away"} <= set(actions)
        assert result.merge_id
    # the merged-away record takes no new activity; its number leads to the survivor
    with pytest.raises(Conflict, match=f"merged into {keep}"):
        with transaction(engine) as s:
            service.post_charge(s, _c(s, dup), "WA", 100, date(2024, 3, 5), actor="t")


def _max_seq(engine: Engine) -> int:
    from sqlalchemy import func

    with transaction(engine) as s:
        return int(s.scalar(select(func.coalesce(func.max(OutboxEntry.seq), 0))) or 0)


def test_apply_does_not_commit_on_its_own(engine, pair) -> None:
    keep, dup = pair
    before = (state(engine, keep), state(engine, dup))
    with pytest.raises(RuntimeError):
        with transaction(engine) as s:
            apply_merge(s, _c(s, dup), _c(s, keep), actor="clerk")
            raise RuntimeError("crash after the merge, before commit")
    assert (state(engine, keep), state(engine, dup)) == before


def test_active_orders_refuse_the_merge_unless_forced_with_a_reason(town, engine) -> None:
    keep = town.customer("Ann Lee", account="1000-01")
    dup = town.customer("Ann Lee", account="2000-01")
    with transaction(engine) as s:
        service.add_order(s, _c(s, dup.account_number), "PO-9", date(2024, 1, 1), actor="t")
    with pytest.raises(Conflict, match="active orders: PO-9"):
        with transaction(engine) as s:
            apply_merge(s, _c(s, "2000-01"), _c(s, "1000-01"), actor="t")
    with pytest.raises(Conflict, match="--force --reason"):
        with transaction(engine) as s:
            apply_merge(s, _c(s, "2000-01"), _c(s, "1000-01"), actor="t", force=True)
    with transaction(engine) as s:
        result = apply_merge(
            s, _c(s, "2000-01"), _c(s, "1000-01"), actor="t", force=True, reason="PO moved"
        )
    assert state(engine, keep.account_number)["orders"] == ["PO-9"]
    with transaction(engine) as s:
        from civic.merge.tables import Merge

        m = s.get(Merge, result.merge_id)
        assert m is not None and m.forced and m.reason == "PO moved"


def test_a_date_range_limits_which_orders_move(town, engine) -> None:
    town.customer("Ann Lee", account="1000-01")
    town.customer("Ann Lee", account="2000-01")
    with transaction(engine) as s:
        d = _c(s, "2000-01")
        for number, start, end in (
            ("PO-OLD", date(2019, 1, 1), date(2019, 12, 31)),
            ("PO-NEW", date(2024, 1, 1), date(2024, 3, 31)),
        ):
            service.add_order(s, d, number, start, actor="t", status="closed", end_date=end)
    with transaction(engine) as s:
        apply_merge(s, _c(s, "2000-01"), _c(s, "1000-01"), actor="t", orders_from=date(2023, 1, 1))
    assert state(engine, "1000-01")["orders"] == ["PO-NEW"]
    assert state(engine, "2000-01")["orders"] == ["PO-OLD"]


def test_guards(town, engine) -> None:
    town.customer("Ann Lee", account="1000-01")
    town.customer("Ann Lee", account="2000-01")
    other = Town(engine, community="SHELBYVILLE")
    other.customer("Ann Lee", account="1000-01")
    with transaction(engine) as s:
        springfield = service.get_community(s, "SPRINGFIELD")
        shelbyville = service.get_community(s, "SHELBYVILLE")
        a = service.get_customer(s, "1000-01", springfield)
        b = service.get_customer(s, "2000-01", springfield)
        elsewhere = service.get_customer(s, "1000-01", shelbyville)
        assert any("itself" in r for r in make_plan(s, a, a).refusals)
        assert any("different communities" in r for r in make_plan(s, a, elsewhere).refusals)
        service.update_customer(s, a, {"master_account": "2000-01"}, actor="t")
        assert any("lose its active master" in r for r in make_plan(s, b, a).refusals)


def test_a_master_with_dependents_needs_an_active_survivor(town, engine) -> None:
    town.customer("Ann Lee", account="1000-01")
    town.customer("Ann Lee", account="2000-01")
    town.customer("Bo Lee", account="3000-01", master_account="2000-01")
    with transaction(engine) as s:
        service.update_customer(s, _c(s, "1000-01"), {"status": "inactive"}, actor="t")
    with transaction(engine) as s:
        plan = make_plan(s, _c(s, "2000-01"), _c(s, "1000-01"))
        assert any("without an active master" in r for r in plan.refusals)
        service.update_customer(s, _c(s, "1000-01"), {"status": "active"}, actor="t")
    with transaction(engine) as s:
        apply_merge(s, _c(s, "2000-01"), _c(s, "1000-01"), actor="t")
    with transaction(engine) as s:
        assert service.to_view(s, _c(s, "3000-01")).master_account == "001000-01"


def test_undo_restores_exactly_and_later_activity_stays_with_the_survivor(
    town, engine, pair
) -> None:
    keep, dup = pair
    before_keep, before_dup = state(engine, keep), state(engine, dup)
    with transaction(engine) as s:
        merge_id = apply_merge(s, _c(s, dup), _c(s, keep), actor="clerk").merge_id
    later = town_account(town, keep)
    later.charge("GA", "15.00", "2024-03-05")
    with transaction(engine) as s:  # a later certification-style alert clears the survivor's
        service.clear_alerts(s, _c(s, keep), actor="t")
    with transaction(engine) as s:
        result = undo_merge(s, merge_id, actor="clerk")
    assert result.kept["transaction"] == 1
    after_keep, after_dup = state(engine, keep), state(engine, dup)
    assert after_dup == before_dup  # every moved record back, alert recreated, refs back
    assert after_keep["balance"] == before_keep["balance"] + 1500
    assert len(after_keep["txns"]) == len(before_keep["txns"]) + 1
    assert after_keep["fields"] == before_keep["fields"]
    assert after_keep["refs"] == before_keep["refs"]
    with pytest.raises(Conflict, match="already undone"):
        with transaction(engine) as s:
            undo_merge(s, merge_id, actor="clerk")


def town_account(town: Town, account: str) -> Any:
    from tests.builders import Account

    return Account(town, account)


def test_undo_is_refused_where_it_would_contradict_later_changes(town, engine, pair) -> None:
    keep, dup = pair
    with transaction(engine) as s:
        merge_id = apply_merge(s, _c(s, dup), _c(s, keep), actor="clerk").merge_id
    with transaction(engine) as s:
        payment = s.scalar(
            select(Transaction.id).where(
                Transaction.kind == "PAY", Transaction.customer_id == _c(s, keep).id
            )
        )
        service.update_customer(s, _c(s, keep), {"phone": "217-555-9999"}, actor="t")
    assert payment is not None
    void_id = town_account(town, keep).void(payment, "2024-03-01")
    with pytest.raises(Conflict) as info:
        with transaction(engine) as s:
            undo_merge(s, merge_id, actor="clerk")
    message = info.value.message
    assert f"transaction {void_id}" in message and f"moved transaction {payment}" in message
    assert "phone was changed after the merge" in message
    assert state(engine, dup)["fields"]["merged_into_id"] is not None  # nothing restored


def test_imports_refuse_rows_for_a_merged_away_account(engine, pair, tmp_path) -> None:
    from civic.ledger.imports import import_csv

    keep, dup = pair
    with transaction(engine) as s:
        apply_merge(s, _c(s, dup), _c(s, keep), actor="clerk")
    txns = tmp_path / "t.csv"
    txns.write_text(
        "account_number,kind,service,amount,date\n"
        f"{dup},CHG,WA,10.00,2024-03-05\n"
        f"{keep},CHG,WA,10.00,2024-03-05\n"
    )
    summary = import_csv(engine, "transactions", txns, actor="t", community="SPRINGFIELD")
    assert (summary.added, summary.rejected) == (1, 1)
    assert f"was merged into {keep}: use {keep}" in summary.problems[0].message
    people = tmp_path / "c.csv"
    people.write_text(f"account_number,last_name,city\n{dup},Smyth,Elsewhere\n")
    summary = import_csv(engine, "customers", people, actor="t", community="SPRINGFIELD")
    assert summary.rejected == 1
    assert "was merged into another record" in summary.problems[0].message
    assert state(engine, dup)["fields"]["status"] == "inactive"


# -- found in review: chains, alerts, references, dependents, certifications -----------------


def _merge(engine: Engine, source: str, survivor: str) -> int:
    with transaction(engine) as s:
        return apply_merge(s, _c(s, source), _c(s, survivor), actor="t").merge_id


def _undo(engine: Engine, merge_id: int) -> None:
    with transaction(engine) as s:
        undo_merge(s, merge_id, actor="t")


def test_undo_restores_alerts_in_order_even_after_the_survivor_was_cleared(town, engine) -> None:
    town.customer("Ann Lee", account="1000-01")
    town.customer("Ann Lee", account="2000-01")
    with transaction(engine) as s:
        for text in ("1 first note", "2 second note"):
            service.add_alert(s, _c(s, "2000-01"), text, actor="t")
    before = state(engine, "2000-01")["alerts"]
    merge_id = _merge(engine, "2000-01", "1000-01")
    with transaction(engine) as s:
        service.clear_alerts(s, _c(s, "1000-01"), actor="t")
        service.add_alert(s, _c(s, "1000-01"), "Later note for survivor", actor="t")
    _undo(engine, merge_id)
    with transaction(engine) as s:
        kept = service.to_view(s, _c(s, "2000-01")).alerts
        assert list(kept) == ["1 first note", "2 second note"] == before
        assert list(service.to_view(s, _c(s, "1000-01")).alerts) == ["Later note for survivor"]


def test_a_chain_of_merges_points_the_earlier_record_at_the_last_survivor(town, engine) -> None:
    for account in ("1000-01", "2000-01", "3000-01"):
        town.customer("Ann Lee", account=account)
    first = _merge(engine, "1000-01", "2000-01")
    second = _merge(engine, "2000-01", "3000-01")
    with transaction(engine) as s:
        assert service.to_view(s, _c(s, "1000-01")).merged_into == "003000-01"
    with pytest.raises(Conflict, match="merged into 003000-01"):
        with transaction(engine) as s:
            service.post_charge(s, _c(s, "1000-01"), "WA", 100, date(2024, 3, 5), actor="t")
    _undo(engine, second)
    with transaction(engine) as s:
        assert service.to_view(s, _c(s, "1000-01")).merged_into == "002000-01"
    _undo(engine, first)
    assert state(engine, "1000-01")["fields"]["merged_into_id"] is None


def test_references_survive_chains_and_later_merges(town, engine) -> None:
    town.customer("Ann Lee", account="1000-01", refs=[("ssr", "SSR-1")])
    town.customer("Ann Lee", account="2000-01", refs=[("parcel", "P-1")])
    town.customer("Ann Lee", account="3000-01", refs=[("ssr", "ssr 1")])
    first = _merge(engine, "1000-01", "2000-01")
    second = _merge(engine, "2000-01", "3000-01")  # 3000-01 already holds SSR1: dropped
    _undo(engine, second)
    _undo(engine, first)
    assert state(engine, "1000-01")["refs"] == [("ssr", "SSR-1")]
    assert state(engine, "2000-01")["refs"] == [("parcel", "P-1")]
    assert state(engine, "3000-01")["refs"] == [("ssr", "ssr 1")]

    town.customer("Bo Ray", account="4000-01", refs=[("ssr", "SSR-7")])
    town.customer("Bo Ray", account="5000-01")
    town.customer("Bo Ray", account="6000-01", refs=[("ssr", "SSR7")])
    earlier = _merge(engine, "4000-01", "5000-01")  # SSR-7 moves to 5000-01
    _merge(engine, "6000-01", "5000-01")  # its copy is dropped: 5000-01 holds it
    _undo(engine, earlier)
    assert state(engine, "4000-01")["refs"] == [("ssr", "SSR-7")]
    assert state(engine, "5000-01")["refs"] == [("ssr", "SSR-7")]  # still there for 6000-01


def test_moved_dependents_are_ordinary_audited_changes(town, engine) -> None:
    town.customer("Ann Lee", account="1000-01")
    town.customer("Ann Lee", account="2000-01")
    town.customer("Bo Lee", account="3000-01", master_account="2000-01")
    version = state_version(engine, "3000-01")
    seq = _max_seq(engine)
    merge_id = _merge(engine, "2000-01", "1000-01")
    with transaction(engine) as s:
        dep = _c(s, "3000-01")
        assert dep.version == version + 1
        fed = s.scalars(select(OutboxEntry.customer_id).where(OutboxEntry.seq > seq)).all()
        assert dep.id in fed
        changes = s.scalars(
            select(AuditEntry.changes).where(
                AuditEntry.entity_id == dep.id, AuditEntry.action == "customer.merge"
            )
        ).all()
        assert changes == [{"master_account": ["002000-01", "001000-01"]}]
    _undo(engine, merge_id)
    with transaction(engine) as s:
        assert service.to_view(s, _c(s, "3000-01")).master_account == "002000-01"


def state_version(engine: Engine, account: str) -> int:
    with transaction(engine) as s:
        return _c(s, account).version


def test_a_merged_away_record_cannot_become_a_master(town, engine) -> None:
    town.customer("Ann Lee", account="1000-01")
    town.customer("Ann Lee", account="2000-01")
    _merge(engine, "2000-01", "1000-01")
    from civic.errors import InvalidInput

    with pytest.raises(InvalidInput, match="was merged into 001000-01"):
        town.customer("Bo Lee", account="3000-01", master_account="2000-01")


def test_a_merge_that_would_make_a_cycle_of_masters_is_refused(town, engine) -> None:
    town.customer("Ann Lee", account="1000-01")  # A, master of D
    town.customer("Dee Lee", account="3000-01", master_account="1000-01")  # D, master of B
    town.customer("Ann Lee", account="2000-01", master_account="3000-01")  # B
    with transaction(engine) as s:
        plan = make_plan(s, _c(s, "1000-01"), _c(s, "2000-01"))
    assert any("cycle of masters" in r for r in plan.refusals)


def test_undo_is_refused_once_the_survivor_was_certified_with_moved_charges(town, engine) -> None:
    from civic.certification.run import CreateOptions, create_certifications

    town.customer("Ann Lee", account="1000-01")
    dup = town.customer("Ann Lee", account="2000-01")
    for month in ("2024-01-05", "2024-02-05", "2024-03-05", "2024-04-05"):
        dup.charge("WA", "50.00", month)
    merge_id = _merge(engine, "2000-01", "1000-01")
    with transaction(engine) as s:
        create_certifications(
            s,
            service.get_community(s),
            CreateOptions(cert_date=date(2024, 4, 30), period=date(2024, 4, 30)),
            actor="t",
        )
    with pytest.raises(Conflict, match="certified 001000-01's balance after the merge"):
        _undo(engine, merge_id)


def test_set_collection_code_is_validated(engine, pair) -> None:
    from civic.errors import InvalidInput

    keep, dup = pair
    with transaction(engine) as s:
        with pytest.raises(InvalidInput, match="collection_code"):
            make_plan(s, _c(s, dup), _c(s, keep), set_values={"collection_code": "X" * 15})
        plan = make_plan(s, _c(s, dup), _c(s, keep), set_values={"collection_code": "tc"})
        assert plan.changes["collection_code"] == [None, "TC"]


@pytest.mark.postgres
def test_a_posting_cannot_slip_onto_a_record_merged_meanwhile(town, engine) -> None:
    """PostgreSQL: a session that loaded the record before another merged it away re-reads it
    under a lock before posting."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: the merge cannot commit in between")
    town.customer("Ann Lee", account="1000-01")
    town.customer("Ann Lee", account="2000-01")
    with pytest.raises(Conflict, match="merged into 001000-01"):
        with transaction(engine) as s:
            stale = _c(s, "2000-01")
            _merge(engine, "2000-01", "1000-01")  # another transaction commits the merge
            service.post_charge(s, stale, "WA", 100, date(2024, 3, 5), actor="t")
    assert state(engine, "2000-01")["txns"] == []


def _queue_pair(engine: Engine, keep: str, dup: str) -> int:
    """The review queue's suggestion of these two records, as ``civic match run`` writes it."""
    from civic.ledger.customers import now
    from civic.matching.tables import MatchPair

    with transaction(engine) as s:
        a, b = sorted((_c(s, keep), _c(s, dup)), key=lambda c: c.id)
        stamp = now()
        row = MatchPair(
            community_id=a.community_id,
            customer_id_l=a.id,
            customer_id_r=b.id,
            version_l=a.version,
            version_r=b.version,
            match_weight=14.2,
            match_probability=0.9999,
            tier="merge",
            classification="duplicate_record",
            status="pending",
            evidence=[],
            reasons=[],
            model_version=1,
            first_seen_at=stamp,
            scored_at=stamp,
        )
        s.add(row)
        s.flush()
        return row.id


def _pair_state(engine: Engine, pair_id: int) -> tuple[str, str | None, Any]:
    from civic.matching.tables import MatchPair

    with transaction(engine) as s:
        p = s.get(MatchPair, pair_id)
        assert p is not None
        return p.status, p.reviewer, p.decided_at


@pytest.mark.parametrize("decision", [None, "accepted"])
def test_undo_puts_the_suggestion_back_as_it_was_decided(engine, pair, decision) -> None:
    from civic.matching.service import decide

    keep, dup = pair
    pair_id = _queue_pair(engine, keep, dup)
    if decision:
        with transaction(engine) as s:
            decide(s, pair_id, decision, actor="alice")
    before = _pair_state(engine, pair_id)
    with transaction(engine) as s:
        merge_id = apply_merge(s, _c(s, dup), _c(s, keep), actor="bob", pair_id=pair_id).merge_id
    assert _pair_state(engine, pair_id)[:2] == ("merged", "bob")
    with transaction(engine) as s:
        undo_merge(s, merge_id, actor="carol")
    assert _pair_state(engine, pair_id) == before
    assert before[:2] == ((decision, "alice") if decision else ("pending", None))
