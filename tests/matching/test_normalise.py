"""Normalisation: the ways one name, address, phone or reference is written fold into one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scourgify import normalize_address_record  # type: ignore[import-untyped]

from civic.ledger.customers import normalize_ref
from civic.matching import normalise as n


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("O'Brien", "OBrien"),
        ("Smith-Jones", "Smith Jones"),
        ("Mc Donald", "McDonald"),
        ("MacArthur", "Mac Arthur"),
        ("Van Buren", "VanBuren"),
        ("O\u2019BRIEN", "obrien"),
        ("José", "Jose"),
    ],
)
def test_last_name_variants_are_one(a: str, b: str) -> None:
    assert n.normalise_last_name(a) == n.normalise_last_name(b)


def test_suffix_is_split_out_of_the_name() -> None:
    assert n.person_name("John", None, "Smith Jr.", None) == n.PersonName(
        "john", None, "smith", "jr"
    )
    assert n.person_name("John", "Q", "Smith", "III").suffix == "iii"
    assert n.person_name("John", None, "Smith", "Sr").suffix == "sr"
    assert n.normalise_suffix("junior") == "jr"
    assert n.normalise_suffix("Esq") is None


def test_nicknames_are_a_direct_relation() -> None:
    assert n.nickname_equal("bob", "robert") and n.nickname_equal("robert", "bob")
    assert n.nickname_equal("peggy", "margaret")
    assert not n.nickname_equal("christopher", "christina")  # both "chris", not one name
    assert not n.nickname_equal("mary", "peter")


@pytest.mark.parametrize(
    "line",
    [
        "1423 North Maple Street Apt 3",
        "1423 N Maple St #3",
        "1423 n. maple st., unit 3",
        "1423 N MAPLE ST APARTMENT 3",
        "1423 north maple street # 3",
    ],
)
def test_address_spellings_are_one(line: str) -> None:
    assert n.normalise_address(line) == n.Address("1423 n maple st", "3")


def test_address_that_scourgify_refuses_falls_back_to_tokens() -> None:
    with pytest.raises(Exception):  # noqa: B017 - scourgify's own refusal
        normalize_address_record("PO Box 123")
    assert n.normalise_address("P.O. Box 123").street == "p o box 123"
    assert n.normalise_address("") == n.Address(None, None)


_DIRS = st.sampled_from(["N", "North", "S", "South", "E", "West", ""])
_TYPES = st.sampled_from(["St", "Street", "Ave", "Avenue", "Rd", "Road", "Dr", "Drive"])
_NAMES = st.sampled_from(["Maple", "Oak", "Cedar", "Main", "Willow Creek"])


@given(st.integers(1, 99999), _DIRS, _NAMES, _TYPES, st.sampled_from(["", "Apt 4", "Unit 4"]))
def test_fast_path_agrees_with_scourgify(
    number: int, direction: str, name: str, kind: str, unit: str
) -> None:
    line = " ".join(p for p in (str(number), direction, name, kind, unit) if p)
    parsed = normalize_address_record(line)
    expected = parsed["address_line_1"].lower()
    got = n.normalise_address(line)
    assert got.street == expected
    assert got.unit == ("4" if unit else None)


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("(541) 555-0123", "5415550123"),
        ("541.555.0123", "5415550123"),
        ("+1 541 555 0123", "5415550123"),
        ("555-0123", "5550123"),
        ("12", None),
        (None, None),
    ],
)
def test_phone_digits(raw: str | None, digits: str | None) -> None:
    assert n.normalise_phone(raw) == digits


def test_zip_plus_four_and_email_case() -> None:
    assert n.normalise_zip("97471-1234") == n.normalise_zip("974711234") == "97471"
    assert n.normalise_zip("9747") is None
    assert n.normalise_email(" Jane.OBrien@Example.COM ") == "jane.obrien@example.com"


@given(
    st.text(alphabet="0123456789", min_size=7, max_size=7),
    st.sampled_from(["SSR{}", "SSR-{}", " ssr {}", "ssr-{}", "Ssr {} "]),
)
def test_reference_spellings_are_one_and_agree_with_the_ledger(digits: str, form: str) -> None:
    value = form.format(digits)
    assert n.normalise_reference("ssr", value) == f"ssr:SSR{digits}"
    assert n.normalise_reference("SSR", value) == "ssr:" + normalize_ref(value)


def test_a_batch_is_normalised_column_wise_as_record_by_record() -> None:
    from civic.matching import records

    sources = [
        records.SourceRecord(
            i,
            1,
            f"{i:06d}-01",
            ["Bob", "Mary-Ann", "José", None][i % 4],
            None,
            ["O'Brien", "Smith Jr", "McDonald"][i % 3],
            None,
            "The Acme Co." if i % 7 == 0 else None,
            f"{i} N Main Street Apt {i % 5}",
            None,
            "97471-1234",
            f"(541) 555-{i % 10_000:04d}",
            "Some@Example.org",
            "active" if i % 2 else "inactive",
            (("ssr", f"SSR-{i:07d}"),),
        )
        for i in range(1, 301)
    ]
    columns = records.build(sources)
    one_by_one = [records.match_record(s) for s in sources]
    assert columns == {c: [r[c] for r in one_by_one] for c in records.COLUMNS}
    assert columns["unique_id"] == list(range(1, 301))
    assert columns["business_name"][6] == "acme" and columns["business_name"][0] is None
    assert "robert" in one_by_one[3]["first_nicks"] and one_by_one[1]["refs"] == ["ssr:SSR0000002"]
    assert records.build([]) == {c: [] for c in records.COLUMNS}
