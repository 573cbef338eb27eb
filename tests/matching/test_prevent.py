"""Prevention at import (seed 003) on a real ledger (SQLite and PostgreSQL) with real Splink:
rows that would create a customer are attached to an existing one by an equal reference or a
merge-tier score, held for review on a middling score, and create a customer only when nothing
matches."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from civic.db import read_only, transaction
from civic.demo.load import load_demo
from civic.demo.model import DemoOptions
from civic.errors import Conflict, InvalidInput
from civic.ledger import service as ledger
from civic.ledger.imports import ImportProgress, ImportSummary, import_csv
from civic.ledger.tables import AuditEntry, Customer, Order
from civic.matching import holds, service
from civic.matching.engine import Scored
from civic.matching.prevent import ImportScreening, best_per_row, screening_for
from civic.matching.tables import ImportHold
from tests.builders import Town

COMMUNITY = "MAPLEFALLS"


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def _import(engine: Engine, kind: str, path: Path, **kwargs: Any) -> ImportSummary:
    screening = screening_for(engine)
    try:
        return import_csv(
            engine, kind, path, actor="clerk", community=COMMUNITY, screening=screening, **kwargs
        )
    finally:
        screening.close()


def _customers(engine: Engine) -> int:
    with read_only(engine) as s:
        return int(s.scalar(select(func.count()).select_from(Customer)) or 0)


def _refs(engine: Engine, account: str) -> set[tuple[str, str]]:
    with read_only(engine) as s:
        comm = ledger.get_community(s, COMMUNITY)
        c = ledger.get_customer(s, account, comm)
        return {(r.ref_type, r.value) for r in c.refs}


def _paths(s: ImportSummary) -> tuple[int, int, int, int]:
    return (s.attached_by_reference, s.attached_by_score, s.held, s.created)


# -- without a saved model: reference equality only -------------------------------------------


@pytest.fixture
def small_town(engine: Engine) -> Town:
    town = Town(engine, community=COMMUNITY)
    town.customer(
        "Jane O'Brien",
        "001001-01",
        service_address="12 North Main Street Apt 3",
        zip="97471",
        refs=[("ssr", "SSR-1234567")],
    )
    town.customer("Walter Kowalczyk", "001002-01", service_address="40 Elm St", zip="97472")
    return town


CUSTOMERS = """
    account_number,first_name,last_name,service_address,zip,SSR,Medicaid
    005001-01,Jane,OBrien,12 N Main St #3,97471,ssr 1234567,MC-77
    005002-01,Zbigniew,Quartermaine,5 Nowhere Rd,97479,,
    005003-01,JANE,O'BRIEN,12 N Main St #3,97471,,
    """
MAP = {"SSR": "ref:ssr", "Medicaid": "ref:medicaid"}


def test_reference_only_without_a_saved_model(
    engine: Engine, small_town: Town, tmp_path: Path
) -> None:
    path = _write(tmp_path, "people.csv", CUSTOMERS)
    first = _import(engine, "customers", path, mapping=MAP)
    assert first.screening is not None and first.screening.startswith("reference only")
    # the SSR written another way is Jane's: attached, her record gets the Medicaid reference;
    # without a model, the same name without a reference is a new customer
    assert _paths(first) == (1, 0, 0, 2)
    assert (first.added, first.updated, first.rejected) == (2, 0, 0)
    assert _customers(engine) == 4
    assert _refs(engine, "001001-01") == {("ssr", "SSR-1234567"), ("medicaid", "MC-77")}
    with read_only(engine) as s:
        comm = ledger.get_community(s, COMMUNITY)
        with pytest.raises(Exception, match="005001"):
            ledger.get_customer(s, "005001-01", comm)
        actions = {a for (a,) in s.execute(select(AuditEntry.action))}
        assert {"import.customers.attach", "customer.ref.add"} <= actions

    again = _import(engine, "customers", path, mapping=MAP)
    assert _paths(again) == (1, 0, 0, 0)
    assert (again.added, again.unchanged) == (0, 2)
    assert _customers(engine) == 4
    assert _refs(engine, "001001-01") == {("ssr", "SSR-1234567"), ("medicaid", "MC-77")}


def test_one_new_customer_twice_in_a_file_is_created_once(
    engine: Engine, small_town: Town, tmp_path: Path
) -> None:
    """Seed 003's duplicate made by an import: the file itself has the new client twice, with
    its reference written two ways; the second row attaches to the customer the first made."""
    path = _write(
        tmp_path,
        "twice.csv",
        """
        account_number,first_name,last_name,service_address,zip,SSR
        006001-01,Pat,Nakamura,3 Birch Ln,97474,SSR-7654321
        006002-01,Ann,Other,9 Fir St,97474,
        006003-01,PAT,NAKAMURA,3 Birch Lane,97474,ssr 7654321
        """,
    )
    before = _customers(engine)
    summary = _import(engine, "customers", path, mapping={"SSR": "ref:ssr"})
    assert _paths(summary) == (1, 0, 0, 2)
    assert (summary.added, summary.rejected) == (2, 0)
    assert _customers(engine) == before + 2
    assert _refs(engine, "006001-01") == {("ssr", "SSR-7654321")}
    with read_only(engine) as s:
        comm = ledger.get_community(s, COMMUNITY)
        with pytest.raises(Exception, match="006003"):
            ledger.get_customer(s, "006003-01", comm)


def test_orders_without_an_account_number_find_their_customer_by_reference(
    engine: Engine, small_town: Town, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "orders.csv",
        """
        order_number,start_date,kind,Social Services Ref,first_name,last_name,account_number
        PO-1,2026-01-05,purchase,SSR1234567,,,
        PO-2,2026-01-06,purchase,,Hortensia,Blumenfeld,006001-01
        PO-3,2026-01-07,purchase,,Ignatius,Pennywhistle,
        PO-4,2026-01-08,service,,,,001002-01
        """,
    )
    mapping = {"Social Services Ref": "ref:ssr"}
    first = _import(engine, "orders", path, mapping=mapping)
    # PO-1 by reference to Jane; PO-2 creates its new customer (no one matches); PO-3 has no
    # match and no account number to create one; PO-4 by account number, as before
    assert _paths(first) == (1, 0, 0, 1)
    assert (first.added, first.rejected) == (3, 1)
    assert "without an account number" in first.problems[0].message
    with read_only(engine) as s:
        owners = dict(
            s.execute(
                select(Order.order_number, Customer.account_number).join(
                    Customer, Customer.id == Order.customer_id
                )
            ).all()
        )
    assert owners == {"PO-1": "001001-01", "PO-2": "006001-01", "PO-4": "001002-01"}
    again = _import(engine, "orders", path, mapping=mapping)
    assert (again.added, again.unchanged, again.rejected) == (0, 3, 1)
    assert _customers(engine) == 3


def test_a_batch_that_fails_leaves_nothing(
    engine: Engine, small_town: Town, tmp_path: Path
) -> None:
    path = _write(tmp_path, "people.csv", CUSTOMERS)

    def stop(progress: ImportProgress) -> None:
        if progress.phase == "importing":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _import(engine, "customers", path, mapping=MAP, progress=stop)
    assert _customers(engine) == 2
    assert _refs(engine, "001001-01") == {("ssr", "SSR-1234567")}


# -- with a trained model: scores -------------------------------------------------------------


@pytest.fixture
def trained(engine: Engine) -> Town:
    load_demo(
        engine, DemoOptions(seed=11, customers=400, as_of=date(2026, 10, 31), community=COMMUNITY)
    )
    town = Town(engine, community=COMMUNITY, _next_location=900000)
    town.customer(
        "Jane O'Brien",
        "900001-01",
        service_address="12 North Main Street Apt 3",
        zip="97471-2203",
        phone="(541) 555-0199",
        refs=[("ssr", "SSR-1234567")],
    )
    town.customer(
        "Agnieszka Wisniewski",
        "900002-01",
        service_address="77 Oak Ave",
        zip="97473",
        phone="541-555-0177",
    )
    service.run(engine, actor="clerk")
    return town


SCORED = """
    account_number,first_name,last_name,service_address,zip,phone
    950001-01,JANE,O'BRIEN,12 N Main St #3,97471,541.555.0199
    950002-01,J,OBrien,12 N Main St Apt 3,97471,541-555-0199
    950003-01,Jane,OBrien,88 Lakeview Dr,97475,541-555-0199
    950004-01,Marta,Wisniewski,77 Oak Avenue,97473,541-555-0177
    950005-01,Zbigniew,Quartermaine,5 Nowhere Rd,97479,541-555-9999
    """


def test_scores_attach_hold_or_create_and_holds_are_resolved(
    engine: Engine, trained: Town, tmp_path: Path
) -> None:
    before = _customers(engine)
    path = _write(tmp_path, "new.csv", SCORED)
    first = _import(engine, "customers", path)
    assert first.screening == "reference and score (model v1)"
    # the same Jane written another way: attached; only an initial, or another address:
    # held; a household member (another first name) and a stranger: created
    assert _paths(first) == (0, 1, 2, 2)
    assert (first.added, first.read) == (2, 5)
    assert _customers(engine) == before + 2

    with read_only(engine) as s:
        held = holds.list_holds(s)
    assert [(h.line, h.candidate_account) for h in held] == [(3, "900001-01"), (4, "900001-01")]
    initial, elsewhere = held
    assert initial.reasons == ["only an initial to compare first names"]
    assert any("different service addresses" in r for r in elsewhere.reasons)
    assert initial.match_weight is not None and initial.match_weight >= 6
    assert initial.values["account_number"] == "950002-01"
    assert {e["comparison"] for e in initial.evidence} >= {"first_name", "address", "phone"}

    # importing the same file again creates nothing and holds nothing twice
    again = _import(engine, "customers", path)
    assert _paths(again) == (0, 1, 2, 0)
    assert (again.added, again.unchanged) == (0, 2)
    assert _customers(engine) == before + 2
    with read_only(engine) as s:
        assert s.scalar(select(func.count()).select_from(ImportHold)) == 2

    # resolve: the initial is Jane (attach); the other address is a new account (release)
    with transaction(engine) as s:
        attached = holds.attach(s, initial.id, actor="ann")
        released = holds.release(s, elsewhere.id, actor="bob")
    assert attached.status == "attached" and attached.decided_by == "ann"
    assert released.status == "released" and released.customer_id is not None
    assert _customers(engine) == before + 3
    with read_only(engine) as s:
        assert holds.list_holds(s) == []
        assert len(holds.list_holds(s, status=None)) == 2
        comm = ledger.get_community(s, COMMUNITY)
        assert ledger.get_customer(s, "950003-01", comm).id == released.customer_id
        with pytest.raises(Conflict):
            holds.attach(s, initial.id, actor="ann")

    third = _import(engine, "customers", path)
    # the attached row follows its decision; the released row is now an existing account
    assert _paths(third) == (0, 2, 0, 0)
    assert (third.added, third.unchanged) == (0, 3)
    assert _customers(engine) == before + 3


TWICE = """
    account_number,first_name,last_name,service_address,zip,phone
    960001-01,Zbigniew,Quartermaine,5 Nowhere Rd,97479,541-555-9999
    960002-01,Hortensia,Quartermaine,5 Nowhere Rd,97479,541-555-9999
    960003-01,ZBIGNIEW,QUARTERMAINE,5 Nowhere Road,97479,(541) 555-9999
    960004-01,Zbigniew,Quartermain,5 Nowhere Rd,97479,5415559999
    """


def test_a_new_person_twice_in_one_file_is_scored_against_the_first(
    engine: Engine, trained: Town, tmp_path: Path
) -> None:
    """Rows of one file are matched against each other too: the new person's second and third
    rows attach to (or are held against) the customer the first row created; a household
    member with another first name is a customer of her own."""
    before = _customers(engine)
    summary = _import(engine, "customers", _write(tmp_path, "twice.csv", TWICE))
    attached, scored, held, created = _paths(summary)
    assert created == 2 and attached == 0 and scored + held == 2 and scored >= 1
    assert _customers(engine) == before + 2
    with read_only(engine) as s:
        comm = ledger.get_community(s, COMMUNITY)
        first = ledger.get_customer(s, "960001-01", comm)
        assert ledger.get_customer(s, "960002-01", comm).first_name == "Hortensia"
        for account in ("960003-01", "960004-01"):
            with pytest.raises(Exception, match=account[:6]):
                ledger.get_customer(s, account, comm)
        assert all(h.candidate_account == "960001-01" for h in holds.list_holds(s))
        attaches = s.scalars(
            select(AuditEntry.customer_id).where(AuditEntry.action == "import.customers.attach")
        ).all()
        assert set(attaches) == {first.id}


def test_orders_of_a_new_person_under_two_accounts_make_one_customer(
    engine: Engine, trained: Town, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "orders.csv",
        """
        order_number,start_date,kind,account_number,first_name,last_name,service_address,zip,phone
        PO-21,2026-02-01,purchase,960001-01,Zbigniew,Quartermaine,5 Nowhere Rd,97479,5415559999
        PO-22,2026-03-01,purchase,960001-01,Zbigniew,Quartermaine,5 Nowhere Rd,97479,5415559999
        PO-23,2026-03-01,purchase,960003-01,ZBIGNIEW,QUARTERMAINE,5 Nowhere Road,97479,5415559999
        """,
    )
    before = _customers(engine)
    summary = _import(engine, "orders", path)
    assert _customers(engine) == before + 1
    assert summary.created == 1 and summary.attached_by_score == 1
    assert summary.added == 3
    with read_only(engine) as s:
        owners = set(
            s.scalars(
                select(Order.customer_id).where(Order.order_number.in_(["PO-21", "PO-22", "PO-23"]))
            )
        )
    assert len(owners) == 1


def test_an_order_held_for_review_is_released_with_an_account_number(
    engine: Engine, trained: Town, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "orders.csv",
        """
        order_number,start_date,kind,first_name,last_name,service_address,zip,phone
        PO-9,2026-02-01,purchase,J,OBrien,12 N Main St Apt 3,97471,541-555-0199
        PO-10,2026-02-01,purchase,Jane,O'Brien,12 N Main St #3,97471,5415550199
        """,
    )
    summary = _import(engine, "orders", path)
    assert _paths(summary) == (0, 1, 1, 0)
    assert summary.added == 1
    with read_only(engine) as s:
        (held,) = holds.list_holds(s)
    assert held.kind == "orders" and held.account_number is None
    with transaction(engine) as s, pytest.raises(InvalidInput, match="--account"):
        holds.release(s, held.id, actor="ann")
    with transaction(engine) as s:
        done = holds.release(s, held.id, actor="ann", account="950009-01")
    with read_only(engine) as s:
        order = s.scalars(select(Order).where(Order.order_number == "PO-9")).one()
        assert order.customer_id == done.customer_id


def test_the_screening_says_how_it_matches(engine: Engine, trained: Town) -> None:
    assert screening_for(engine).mode == "reference and score (model v1)"
    assert ImportScreening(None, 0).mode.startswith("reference only: no saved matching model")


def test_the_ledger_does_not_import_matching() -> None:
    """The screening is a hook the CLI hands to the import: civic.ledger stays independent."""
    ledger_dir = Path(__file__).resolve().parents[2] / "src" / "civic" / "ledger"
    for module in ledger_dir.rglob("*.py"):
        lines = module.read_text(encoding="utf-8").splitlines()
        imports = [x for x in lines if x.lstrip().startswith(("import ", "from "))]
        assert not [x for x in imports if "civic.matching" in x or "import matching" in x]


# -- the candidate-key cache beside a SQLite ledger -------------------------------------------


def _candidates_of(engine: Engine, base: Path, row: dict[str, str]) -> list[str]:
    """The account numbers the key pool (cached beside ``base``) offers for one row."""
    from civic.ledger.imports_screen import Incoming
    from civic.matching.prevent import _Pool, cache_path

    with read_only(engine) as s:
        comm = ledger.get_community(s, COMMUNITY)
        pool = _Pool(comm.id, cache_path(base, comm.id))
        try:
            pool.refresh(s)
            ids = pool.candidates([(-1, Incoming(2, None, row, (), row))])
        finally:
            pool.close()
        found = s.scalars(select(Customer.account_number).where(Customer.id.in_(ids)))
        return sorted(found)


def test_the_key_cache_follows_the_ledger_and_never_outlives_it(
    sqlite_template: Path, tmp_path: Path
) -> None:
    import shutil

    from civic.db import make_engine

    path = tmp_path / "ledger.db"
    row = {"first_name": "Bob", "last_name": "Yu", "service_address": "1 Oak St", "zip": "97001"}

    def ledger_with(*people: tuple[str, str, str]) -> Engine:
        shutil.copy(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        town = Town(engine, community=COMMUNITY)
        for i, (name, address, zip_code) in enumerate(people):
            town.customer(name, f"{7000 + i:06d}-01", service_address=address, zip=zip_code)
        return engine

    alice, carol = ("Alice Zed", "5 Elm St", "97002"), ("Carol Ng", "9 Pine St", "97003")
    bob = ("Bob Yu", "1 Oak St", "97001")
    first = ledger_with(alice, carol)
    assert _candidates_of(first, path, row) == []
    Town(first, community=COMMUNITY).customer(
        "Bob Yu", "007100-01", service_address="1 Oak St", zip="97001"
    )
    # a customer added since the keys were cached is keyed at the next import
    assert _candidates_of(first, path, row) == ["007100-01"]
    assert list(tmp_path.glob("ledger.db.match-keys-c*.duckdb"))
    first.dispose()

    # the ledger made again at the same path: the same ids and versions, other people
    second = ledger_with(bob, carol, alice)
    assert _candidates_of(second, path, row) == ["007000-01"]
    second.dispose()


def test_a_server_ledger_keeps_its_keys_in_the_cache_directory(
    engine: Engine, trained: Town, tmp_path: Path
) -> None:
    """PostgreSQL (any ledger that is not a file) keeps the keys under a digest of its URL in
    the cache directory: the second import finds them, and both decide alike."""
    cache_dir = tmp_path / "cache"
    path = _write(tmp_path, "new.csv", SCORED)

    def once() -> ImportSummary:
        screening = screening_for(engine, cache_dir=cache_dir)
        try:
            return import_csv(
                engine, "customers", path, actor="clerk", community=COMMUNITY, screening=screening
            )
        finally:
            screening.close()

    first = once()
    files = sorted(p.name for p in cache_dir.glob("*.duckdb"))
    if engine.url.get_backend_name() == "sqlite":
        assert files == []  # a SQLite ledger keeps them beside its file
        return
    assert len(files) == 1 and files[0].startswith("ledger-")
    assert engine.url.password is None or engine.url.password not in files[0]
    second = once()
    assert _paths(first) == (0, 1, 2, 2)
    assert _paths(second) == (0, 1, 2, 0)


def test_a_row_equal_to_two_duplicate_records_attaches_to_the_older(
    engine: Engine, trained: Town, tmp_path: Path
) -> None:
    """A person already in the ledger twice (a duplicate record not merged yet): a row that
    matches both alike attaches to the older record, every time, whatever order the engine
    returns its pairs in."""
    people = [
        ("Imogen Tallbridge", "31 Quarry Rd", "97476", "541-555-0131"),
        ("Osvaldo Brennick", "8 Heron Ct", "97477", "541-555-0148"),
        ("Philippa Marchetti", "215 Cedar Bluff Dr", "97478", "541-555-0162"),
        ("Radomir Uxbridge", "6 Tamarack Way", "97471", "541-555-0175"),
        ("Sunniva Oyelaran", "940 Fern Hollow Rd", "97472", "541-555-0189"),
        ("Thaddeus Vukovic", "52 Larkspur Ln", "97473", "541-555-0193"),
    ]
    older = []
    for i, (name, street, zip_, phone) in enumerate(people):
        for location in (981000 + i, 982000 + i):  # the older record first
            trained.customer(name, f"{location}-01", service_address=street, zip=zip_, phone=phone)
        older.append(f"{981000 + i}-01")
    lines = ["account_number,first_name,last_name,service_address,zip,phone"]
    for i, (name, street, zip_, phone) in enumerate(people):
        given, family = name.split()
        lines.append(f"97{i:04d}-01,{given.upper()},{family.upper()},{street},{zip_},{phone}")
    summary = _import(engine, "customers", _write(tmp_path, "dupes.csv", "\n".join(lines)))
    assert _paths(summary) == (0, len(people), 0, 0)
    with read_only(engine) as s:
        attached = {
            int(cid)
            for (cid,) in s.execute(
                select(AuditEntry.customer_id).where(AuditEntry.action == "import.customers.attach")
            )
        }
        comm = ledger.get_community(s, COMMUNITY)
        want = {ledger.get_customer(s, account, comm).id for account in older}
    assert attached == want


def test_equal_weights_go_to_the_older_record_in_either_order() -> None:
    newer = Scored(-1, 42, 11.5, 0.9997, ())
    older = Scored(7, -1, 11.5, 0.9997, ())  # the row on either side of the pair
    better = Scored(-2, 42, 12.0, 0.9998, ())
    worse = Scored(-2, 7, 3.0, 0.89, ())
    for pairs in ([newer, older, better, worse], [worse, better, older, newer]):
        best = best_per_row(pairs)
        assert best[-1] is older and best[-2] is better
