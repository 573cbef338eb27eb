"""The sample town's generator: deterministic, exact in size, and every truth group has the
property its kind claims (checked on the generated records, no database needed)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from civic.demo.generate import block_sizes, customer_history, plan, town_truth
from civic.demo.model import Calendar, DemoCustomer, DemoOptions
from civic.demo.names import DIRECTIONS, STREET_TYPES
from civic.demo.people import NICKNAMES
from civic.demo.truth import CLASS_OF, TruthGroup, counts, read_truth, truth_document, write_truth
from civic.errors import InvalidInput
from civic.ledger.customers import normalize_ref

OPTIONS = DemoOptions(seed=7, customers=400)
ACCOUNT = re.compile(r"^\d{6}-\d{2}$")
Town = tuple[dict[str, DemoCustomer], list[TruthGroup]]


@pytest.fixture(scope="module")
def town() -> Town:
    blocks = list(plan(OPTIONS))
    customers = {c.number: c for b in blocks for c in b.customers}
    return customers, [g for b in blocks for g in b.truth]


def test_same_seed_same_town_other_seed_other_town() -> None:
    first = [b.customers for b in plan(OPTIONS)], town_truth(OPTIONS)
    again = [b.customers for b in plan(OPTIONS)], town_truth(OPTIONS)
    other = DemoOptions(seed=8, customers=400)
    assert first == again
    assert first[0] != [b.customers for b in plan(other)]
    assert first[1] != town_truth(other)


def test_histories_are_deterministic(town: Town) -> None:
    customers, _ = town
    some = list(customers.values())[:40]
    assert [customer_history(c, OPTIONS) for c in some] == [
        customer_history(c, OPTIONS) for c in some
    ]


def test_exact_size_and_account_numbers(town: Town) -> None:
    customers, _ = town
    assert len(customers) == OPTIONS.customers
    by_location: dict[int, list[int]] = defaultdict(list)
    for c in customers.values():
        assert ACCOUNT.match(c.number)
        assert c.number == f"{c.location:06d}-{c.occupant:02d}"
        by_location[c.location].append(c.occupant)
    assert all(sorted(occ) == list(range(1, len(occ) + 1)) for occ in by_location.values())


def test_block_sizes_split_evenly() -> None:
    assert block_sizes(5_000) == [5_000]
    assert block_sizes(5_001) == [2_501, 2_500]
    assert sum(block_sizes(1_000_000)) == 1_000_000
    assert max(block_sizes(1_000_000)) <= 5_000


def test_options_refuse_out_of_range() -> None:
    with pytest.raises(InvalidInput):
        DemoOptions(customers=10)
    with pytest.raises(InvalidInput):
        DemoOptions(customers=1_000_001)


def test_every_kind_is_planted(town: Town) -> None:
    _, truth = town
    planted = {g.kind for g in truth}
    assert planted == set(CLASS_OF)
    for group in truth:
        assert len(group.accounts) >= 2
        assert len(set(group.accounts)) == len(group.accounts)


def _long_address(text: str) -> str:
    words = text.replace("#", "Apt ").replace("Unit ", "Apt ").split()
    spelled = {**DIRECTIONS, **STREET_TYPES}
    return " ".join(spelled.get(w, w) for w in words)


def _letters(text: str | None) -> str:
    return "".join(ch for ch in (text or "").lower() if ch.isalpha())


def _differs_by_one_edit(a: str, b: str) -> bool:
    if a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return len(long) - len(short) == 1 and any(
        long[:i] + long[i + 1 :] == short for i in range(len(long))
    )


def _check_duplicate(kind: str, a: DemoCustomer, b: DemoCustomer) -> None:
    if kind == "name_typo":
        assert (a.first_name, a.last_name) != (b.first_name, b.last_name)
        assert _differs_by_one_edit(a.first_name or "", b.first_name or "") or _differs_by_one_edit(
            a.last_name or "", b.last_name or ""
        )
    elif kind == "transposed_letters":
        names_a, names_b = (a.first_name, a.last_name), (b.first_name, b.last_name)
        assert names_a != names_b
        assert sorted(_letters(" ".join(map(str, names_a)))) == sorted(
            _letters(" ".join(map(str, names_b)))
        )
    elif kind in ("street_format", "unit_format"):
        assert a.service_address != b.service_address
        assert _long_address(a.service_address) == _long_address(b.service_address)
    elif kind == "punctuation":
        assert a.last_name != b.last_name and _letters(a.last_name) == _letters(b.last_name)
    elif kind == "nickname":
        pair = {a.first_name, b.first_name}
        assert any(pair == {formal, nick} for formal, nick in NICKNAMES.items())
    elif kind == "zip_format":
        assert a.zip != b.zip and a.zip[:5] == b.zip[:5]
    elif kind == "phone_format":
        assert a.phone and b.phone and a.phone != b.phone
        assert re.sub(r"\D", "", a.phone) == re.sub(r"\D", "", b.phone)
    elif kind == "imported_twice":
        ssr_a, ssr_b = dict(a.refs)["ssr"], dict(b.refs)["ssr"]
        assert ssr_a != ssr_b and normalize_ref(ssr_a) == normalize_ref(ssr_b)
        assert a.location != b.location
    if kind not in ("street_format", "unit_format"):
        assert a.service_address == b.service_address
    assert b.created_date > a.created_date and b.status == "active"


def _check_related(kind: str, accounts: list[DemoCustomer]) -> None:
    first, *others = accounts
    if kind == "successive_tenants":
        assert len({c.location for c in accounts}) == 1
        assert [c.occupant for c in accounts] == sorted(c.occupant for c in accounts)
        assert all(c.status == "inactive" for c in accounts[:-1])
        assert accounts[-1].status == "active"
        assert len({c.last_name for c in accounts}) == len(accounts)
        assert all(x.end == y.start for x, y in zip(accounts, accounts[1:], strict=False))
    elif kind == "father_son":
        sr, jr = accounts
        assert sr.service_address == jr.service_address and sr.last_name == jr.last_name
        assert sr.first_name == jr.first_name and jr.suffix == "Jr" and sr.suffix in ("Sr", None)
    elif kind == "household_members":
        assert first.service_address == others[0].service_address
        assert first.first_name != others[0].first_name
    elif kind == "common_name":
        assert len({(c.first_name, c.last_name) for c in accounts}) == 1
        assert len({c.service_address for c in accounts}) == len(accounts)
    elif kind == "same_customer_several_accounts":
        assert len({(c.first_name, c.last_name) for c in accounts}) == 1
        assert len({c.service_address for c in accounts}) == len(accounts)
        assert all((c.mailing_address or "").startswith(first.service_address) for c in others)
    elif kind == "consolidated_billing":
        assert first.master is None and first.status == "active"
        assert all(c.master == first.number for c in others)
        assert len({c.business_name for c in accounts}) == 1


def test_truth_groups_have_their_property(town: Town) -> None:
    customers, truth = town
    for group in truth:
        accounts = [customers[n] for n in group.accounts]
        if group.cls == "duplicate":
            _check_duplicate(group.kind, *accounts)
        else:
            _check_related(group.kind, accounts)


def test_truth_file_is_byte_identical_and_reads_back(tmp_path: Path, town: Town) -> None:
    _, truth = town
    one, two = tmp_path / "one.truth.json", tmp_path / "two.truth.json"
    write_truth(one, truth_document(OPTIONS, truth))
    write_truth(two, truth_document(OPTIONS, list(reversed(truth))))
    assert one.read_bytes() == two.read_bytes()
    back = read_truth(one)
    assert sorted(back, key=lambda g: g.accounts) == sorted(truth, key=lambda g: g.accounts)
    assert counts(back)["duplicate"]["imported_twice"] >= 1


def test_histories_follow_the_ledger_rules(town: Town) -> None:
    customers, _ = town
    cal = Calendar.for_as_of(OPTIONS.as_of)
    meters: dict[int, set[str]] = defaultdict(set)
    for c in customers.values():
        story = customer_history(c, OPTIONS)
        for t in story.transactions:
            assert isinstance(t.amount, int) and t.amount != 0
            assert t.txn_date <= OPTIONS.as_of and t.period_end in cal.all_period_ends
            assert (t.kind == "PAY") <= (t.amount < 0)
            if t.kind == "VOID":
                paid = story.transactions[t.voids]  # type: ignore[index]
                assert paid.kind == "PAY" and t.amount == -paid.amount
                assert t.reference == paid.reference and t.period_end == paid.period_end
            else:
                assert t.voids is None
        voided = [t.voids for t in story.transactions if t.kind == "VOID"]
        assert len(voided) == len(set(voided))
        periods = [r.period_end for r in story.readings]
        assert len(periods) == len(set(periods))
        if "WA" in c.services and c.behaviour != "none":
            assert len(periods) == c.end - c.start
        meters[c.location].update(r.meter for r in story.readings)
        for o in story.orders:
            assert o.end_date is None or o.end_date >= o.start_date
    assert all(len(m) <= 1 for m in meters.values())


def test_as_of_moves_the_calendar() -> None:
    cal = Calendar.for_as_of(date(2026, 10, 31))
    assert cal.period_ends[-1] == date(2026, 9, 30)
    assert cal.period_ends[0] == date(2024, 10, 31)
    assert len(cal.period_ends) == 24 and cal.current == date(2026, 10, 31)
