"""The review queue on a real ledger (SQLite and PostgreSQL) with real Splink: a small sample
town (its truth known) plus planted records written through the ledger's services."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from civic.db import read_only, transaction
from civic.demo.load import load_demo
from civic.demo.model import DemoOptions
from civic.demo.truth import CLASS_OF
from civic.ledger import service as ledger
from civic.matching import service
from civic.matching.tables import MatchModel, MatchPair
from tests.builders import Town

COMMUNITY = "MAPLEFALLS"


def _town(engine: Engine) -> tuple[Town, dict[str, Any]]:
    _, truth = load_demo(
        engine, DemoOptions(seed=11, customers=400, as_of=date(2026, 10, 31), community=COMMUNITY)
    )
    return Town(engine, community=COMMUNITY, _next_location=900000), truth


def _pairs(engine: Engine) -> dict[frozenset[str], service.PairView]:
    with read_only(engine) as s:
        return {
            frozenset((v.left.account_number, v.right.account_number)): v
            for v in service.list_pairs(s)
        }


@pytest.fixture
def planted(engine: Engine) -> dict[str, Any]:
    town, truth = _town(engine)
    a = town.customer(
        "Jane O'Brien",
        service_address="12 North Main Street Apt 3",
        zip="97471-2203",
        phone="(541) 555-0199",
        refs=[("ssr", "SSR-1234567")],
    )
    b = town.customer(
        "JANE OBRIEN",
        service_address="12 N Main St #3",
        zip="97471",
        phone="541.555.0199",
        refs=[("ssr", " ssr 1234567")],
    )
    sr = town.customer(
        "Walter Kowalczyk",
        suffix="Sr",
        service_address="40 Elm St",
        phone="541-555-0111",
        zip="97472",
    )
    jr = town.customer(
        "Walter Kowalczyk",
        suffix="Jr",
        service_address="40 Elm Street",
        phone="541-555-0111",
        zip="97472",
    )
    mum = town.customer(
        "Agnieszka Wisniewski", service_address="77 Oak Ave", zip="97473", phone="541-555-0177"
    )
    son = town.customer(
        "Tomasz Wisniewski", service_address="77 Oak Avenue", zip="97473", phone="541-555-0177"
    )
    closed = town.customer(
        "Jane OBrien", service_address="12 N Main St Apt 3", zip="97471", status="closed"
    )
    return {
        "truth": truth,
        "dup": (a, b),
        "father_son": (sr, jr),
        "household": (mum, son),
        "closed": closed,
        "town": town,
    }


def _key(accounts: tuple[Any, Any]) -> frozenset[str]:
    return frozenset(x.account_number for x in accounts)


def test_run_finds_planted_duplicates_and_shows_evidence(
    engine: Engine, planted: dict[str, Any]
) -> None:
    summary = service.run(engine, actor="clerk")
    assert summary.trained and summary.model_version == 1
    pairs = _pairs(engine)
    dup = pairs[_key(planted["dup"])]
    assert dup.tier == "merge" and dup.classification == "duplicate_record"
    assert dup.match_probability > 0.999
    evidence = {e["comparison"]: e for e in dup.evidence}
    assert evidence["reference"]["label"] == "equal reference"
    assert evidence["reference"]["match_weight"] > 5
    assert evidence["address"]["label"] == "exact"
    assert evidence["address"]["left"] == evidence["address"]["right"] == ["12 n main st #3"]
    assert evidence["phone"]["left"] == ["5415550199"]
    assert sum(e["match_weight"] for e in dup.evidence) > 0
    # a closed account takes no part
    closed = planted["closed"].account_number
    assert not any(closed in key for key in pairs)


def test_hard_negatives_never_reach_the_merge_tier(engine: Engine, planted: dict[str, Any]) -> None:
    service.run(engine, actor="clerk")
    pairs = _pairs(engine)
    for kind in ("father_son", "household"):
        found = pairs.get(_key(planted[kind]))
        assert found is None or found.tier == "review", kind
        if found is not None:
            assert found.reasons
    merge = {k for k, v in pairs.items() if v.tier == "merge"}
    for group in planted["truth"]["groups"]:
        if CLASS_OF[group["kind"]] == "hard_negative":
            accounts = group["accounts"]
            for i, a in enumerate(accounts):
                for b in accounts[i + 1 :]:
                    assert frozenset((a, b)) not in merge, group
    # the sample town's planted duplicates are found
    dups = [g for g in planted["truth"]["groups"] if CLASS_OF[g["kind"]] == "duplicate"]
    found = [g for g in dups if frozenset(g["accounts"]) in pairs]
    assert len(found) >= 0.95 * len(dups)


def test_decisions_and_cluster_ids_survive_a_rerun(engine: Engine, planted: dict[str, Any]) -> None:
    service.run(engine, actor="clerk")
    first = _pairs(engine)
    dup = first[_key(planted["dup"])]
    other = next(v for k, v in first.items() if v.tier == "merge" and v.id != dup.id)
    with transaction(engine) as s:
        service.decide(s, dup.id, "rejected", actor="ann")
        service.decide(s, other.id, "accepted", actor="bob")
    again = service.run(engine, actor="clerk")
    assert not again.trained and again.model_version == 1
    assert again.kept_decisions == 2 and again.new_pairs == 0
    second = _pairs(engine)
    assert second[_key(planted["dup"])].status == "rejected"
    assert second[_key(planted["dup"])].reviewer == "ann"
    assert second[frozenset((other.left.account_number, other.right.account_number))].status == (
        "accepted"
    )
    unchanged = [k for k, v in first.items() if k in second and v.id != dup.id]
    assert all(second[k].cluster_id == first[k].cluster_id for k in unchanged)
    with read_only(engine) as s:
        assert len(list(s.scalars(select(MatchModel)))) == 1

    # a change to one of the records brings a rejected pair back
    with transaction(engine) as s:
        comm = ledger.get_community(s, COMMUNITY)
        customer = ledger.get_customer(s, planted["dup"][1].account_number, comm)
        ledger.update_customer(s, customer, {"email": "jane@example.com"}, actor="clerk")
    third = service.run(engine, actor="clerk", retrain=True)
    assert third.trained and third.model_version == 2 and third.resuggested == 1
    assert _pairs(engine)[_key(planted["dup"])].status == "pending"


def test_decide_refuses_unknown_pairs_and_decisions(
    engine: Engine, planted: dict[str, Any]
) -> None:
    from civic.errors import InvalidInput, NotFound

    service.run(engine, actor="clerk")
    with transaction(engine) as s:
        pair_id = s.scalars(select(MatchPair.id)).first()
        assert pair_id is not None
        with pytest.raises(NotFound):
            service.decide(s, 10**9, "accepted", actor="x")
        with pytest.raises(InvalidInput):
            service.decide(s, pair_id, "merged", actor="x")


def test_the_queue_is_paged_and_filtered_by_the_database(
    engine: Engine, planted: dict[str, Any]
) -> None:
    service.run(engine, actor="clerk")
    with read_only(engine) as s:
        whole = [v.id for v in service.list_pairs(s, status="pending")]
        assert len(whole) > 7 and service.count_pairs(s, status="pending") == len(whole)
        pages = [
            [v.id for v in service.list_pairs(s, status="pending", limit=3, offset=o)]
            for o in range(0, len(whole), 3)
        ]
        assert [i for page in pages for i in page] == whole and len(pages[0]) == 3
        mine = service.list_pairs(s, status="pending", communities=[COMMUNITY])
        assert [v.id for v in mine] == whole
        assert service.list_pairs(s, communities=["ELSEWHERE"]) == []
        assert service.count_pairs(s, communities=["ELSEWHERE"]) == 0
        merge = service.count_pairs(s, tier="merge", communities=[COMMUNITY])
        assert merge == len(service.list_pairs(s, tier="merge")) > 0
