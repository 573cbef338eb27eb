"""The record the model compares: a customer's fields normalised (``normalise``) into the
columns the Splink settings in ``engine`` refer to. Pure: built from plain values, so a
customer row from the ledger and a row of a raw CSV export give the same record."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from civic.matching import normalise as n

LOCATION_REF_TYPES: frozenset[str] = frozenset({"parcel", "meter", "premise", "source_id"})
"""References that name a property or a source row, not a person: two tenants of one parcel
share its number, so these are not evidence that two records are one person."""

COLUMNS: tuple[str, ...] = (
    "unique_id",
    "community_id",
    "first_name",
    "first_nicks",
    "first_initial",
    "middle_initial",
    "last_name",
    "last_initial",
    "suffix",
    "business_name",
    "street",
    "unit",
    "address",
    "mailing",
    "zip5",
    "phone",
    "email",
    "refs",
    "ref_key",
    "location",
    "occupant",
    "inactive",
)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A customer as written, before normalisation (canonical field names)."""

    id: int
    community_id: int = 0
    account_number: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    suffix: str | None = None
    business_name: str | None = None
    service_address: str | None = None
    mailing_address: str | None = None
    zip: str | None = None
    phone: str | None = None
    email: str | None = None
    status: str = "active"
    refs: tuple[tuple[str, str], ...] = field(default=())


def _account_parts(account: str | None) -> tuple[str | None, str | None]:
    if not account:
        return None, None
    location, sep, occupant = account.strip().partition("-")
    if not sep:
        return None, None
    return location.strip() or None, occupant.strip() or None


def identity_refs(refs: Iterable[tuple[str, str]]) -> list[str]:
    """Normalised ``type:value`` references that name a person, sorted, without repeats."""
    out: set[str] = set()
    for ref_type, value in refs:
        if ref_type.strip().lower() in LOCATION_REF_TYPES:
            continue
        normalised = n.normalise_reference(ref_type, value)
        if normalised:
            out.add(normalised)
    return sorted(out)


def _mailing_key(line: str | None) -> str | None:
    """The street part of a mailing line (``12 Main St, Maple Falls, OR 97471`` -> street)."""
    if not line:
        return None
    return n.normalise_address(line.split(",")[0]).full


def match_record(src: SourceRecord) -> dict[str, Any]:
    """The normalised columns of one record (``COLUMNS``)."""
    name = n.person_name(src.first_name, src.middle_name, src.last_name, src.suffix)
    address = n.normalise_address(src.service_address)
    refs = identity_refs(src.refs)
    location, occupant = _account_parts(src.account_number)
    return {
        "unique_id": src.id,
        "community_id": src.community_id,
        "first_name": name.first,
        "first_nicks": list(n.nickname_forms(name.first)),
        "first_initial": name.first[0] if name.first else None,
        "middle_initial": name.middle_initial,
        "last_name": name.last,
        "last_initial": name.last[0] if name.last else None,
        "suffix": name.suffix,
        "business_name": n.normalise_business_name(src.business_name),
        "street": address.street,
        "unit": address.unit,
        "address": address.full,
        "mailing": _mailing_key(src.mailing_address),
        "zip5": n.normalise_zip(src.zip),
        "phone": n.normalise_phone(src.phone),
        "email": n.normalise_email(src.email),
        "refs": refs,
        "ref_key": refs[0] if refs else None,
        "location": location,
        "occupant": occupant,
        "inactive": src.status != "active",
    }


def columns_of(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Column-wise lists (what DuckDB takes in as one Arrow table)."""
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for rec in records:
        for c in COLUMNS:
            cols[c].append(rec[c])
    return cols


PARALLEL_FROM = 50_000
"""Records from which ``build`` normalises in two processes (below, starting one costs more
than it saves)."""
_PENDING: Sequence[SourceRecord] = ()
"""The records a forked worker normalises (inherited from the parent at fork)."""


def _build_part(start: int, stop: int) -> dict[str, list[Any]]:
    return columns_of(match_record(s) for s in _PENDING[start:stop])


def build(
    sources: Sequence[SourceRecord],
    *,
    workers: int | None = None,
    parallel_from: int = PARALLEL_FROM,
) -> dict[str, list[Any]]:
    """The normalised columns of these records. A large batch (``PARALLEL_FROM``) is split:
    a forked process normalises the second half while this one does the first (normalising
    is pure Python, so one process uses one core); ``workers=1`` or a platform without
    ``fork`` keeps it in this process. Either way the columns are the same, in order."""
    parallel = workers != 1 and len(sources) >= parallel_from
    if not parallel or "fork" not in multiprocessing.get_all_start_methods():
        return columns_of(match_record(s) for s in sources)
    global _PENDING
    half = len(sources) // 2
    _PENDING = sources
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            theirs = pool.apply_async(_build_part, (half, len(sources)))
            mine = columns_of(match_record(s) for s in sources[:half])
            rest = theirs.get()
    finally:
        _PENDING = ()
    for column, values in mine.items():
        values.extend(rest[column])
    return mine
