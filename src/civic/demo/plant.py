"""The planted records, one function per truth kind: duplicates of the kinds seed 000 lists
(created twice with a typo or another format, imported twice under a reformatted reference),
one person's several accounts, and the hard negatives (household members, father and son,
successive tenants, common names). Each adds its accounts to the block and its truth group."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from civic.demo.model import HISTORY_MONTHS
from civic.demo.names import BUSINESS_WORDS, COMMON_FIRST, COMMON_LAST, SENIOR_FIRST
from civic.demo.people import (
    CITY,
    NICKNAMES,
    PHONE_STYLES,
    PUNCTUATED_LAST,
    STATE,
    Person,
    first_name,
    format_phone,
    last_name,
    strip_punctuation,
    transpose,
    typo,
)
from civic.demo.planner import Loc, Planner, Slot

N = HISTORY_MONTHS


def _name(c: Slot) -> str:
    x = c.customer
    return x.business_name or " ".join(p for p in (x.first_name, x.last_name, x.suffix) if p)


# -- duplicates ---------------------------------------------------------------------------------


def name_typo(pl: Planner) -> None:
    original = pl.account(pl.person(), pl.location())
    first, last = original.customer.first_name, original.customer.last_name
    assert first and last
    if pl.rng.random() < 0.5:
        changed = typo(pl.rng, first)
        pl.duplicate("name_typo", original, f"first name {first} / {changed}", first_name=changed)
    else:
        changed = typo(pl.rng, last)
        pl.duplicate("name_typo", original, f"last name {last} / {changed}", last_name=changed)


def transposed_letters(pl: Planner) -> None:
    original = pl.account(pl.person(), pl.location())
    first, last = original.customer.first_name, original.customer.last_name
    assert first and last
    field, value = ("first_name", first) if pl.rng.random() < 0.5 else ("last_name", last)
    if len(value) < 4:
        field, value = ("last_name", last) if len(last) > len(first) else ("first_name", first)
    changed = transpose(pl.rng, value)
    label = field.replace("_", " ")
    pl.duplicate("transposed_letters", original, f"{label} {value} / {changed}", **{field: changed})


def street_format(pl: Planner) -> None:
    """St vs Street, N vs North: the copy spells out what the original abbreviates."""
    loc = pl.location(pl.address(ok=lambda s: s.predir is not None or s.kind != "Way"))
    original = pl.account(pl.person(), loc)
    street = loc.address.street
    spellings: list[tuple[bool, bool]] = []
    if street.predir:
        spellings.append((True, False))
    if street.kind != "Way":
        spellings.append((False, True))
    if len(spellings) == 2:
        spellings.append((True, True))
    long_dir, long_type = pl.rng.choice(spellings)
    changed = loc.address.format(long_dir=long_dir, long_type=long_type)
    note = f"service address {original.customer.service_address} / {changed}"
    pl.duplicate("street_format", original, note, service_address=changed)


def unit_format(pl: Planner) -> None:
    """Apt 3 vs #3 vs Unit 3."""
    address = replace(pl.address(), unit=pl.unit_label())
    original = pl.account(pl.person(), pl.location(address))
    changed = address.format(unit=pl.rng.choice(("#", "Unit")))
    note = f"service address {original.customer.service_address} / {changed}"
    pl.duplicate("unit_format", original, note, service_address=changed)


def punctuation(pl: Planner) -> None:
    """O'Brien vs OBrien, Smith-Jones vs Smith Jones, McDonald vs Mc Donald."""
    p = pl.person(last=pl.rng.choice(PUNCTUATED_LAST))
    original = pl.account(p, pl.location())
    assert p.last
    changed = strip_punctuation(pl.rng, p.last)
    pl.duplicate("punctuation", original, f"last name {p.last} / {changed}", last_name=changed)


def nickname(pl: Planner) -> None:
    """Robert on one record, Bob on the other (either way round)."""
    formal = pl.rng.choice(list(NICKNAMES))
    names = (formal, NICKNAMES[formal])
    if pl.rng.random() < 0.3:
        names = (names[1], names[0])
    original = pl.account(pl.person(first=names[0]), pl.location())
    pl.duplicate("nickname", original, f"first name {names[0]} / {names[1]}", first_name=names[1])


def zip_format(pl: Planner) -> None:
    """ZIP+4 on one record, the plain ZIP on the other."""
    loc = pl.location()
    plus4 = pl.rng.random() < 0.7
    original = pl.account(pl.person(), loc, zip4=1.0 if plus4 else 0.0)
    changed = loc.address.street.zip if plus4 else loc.zip4
    note = f"zip {original.customer.zip} / {changed}"
    pl.duplicate("zip_format", original, note, zip=changed)


def phone_format(pl: Planner) -> None:
    """(541) 555-0123 vs 541-555-0123 vs 5415550123."""
    p = pl.person(phone=True)
    original = pl.account(p, pl.location())
    assert p.phone
    styles = [s for s in PHONE_STYLES if format_phone(p.phone, s) != original.customer.phone]
    changed = format_phone(p.phone, pl.rng.choice(styles))
    note = f"phone {original.customer.phone} / {changed}"
    pl.duplicate("phone_format", original, note, phone=changed)


def imported_twice(pl: Planner) -> None:
    """An import did not recognise the reference (SSR-1234567 vs ssr 1234567) and created the
    person again at a new location number; some imports write names in capitals."""
    p = pl.person(ssr=True)
    original = pl.account(p, pl.location())
    assert p.ssr
    digits = p.ssr.split("-")[1]
    variant = pl.rng.choice((f"ssr {digits}", f"SSR{digits}", f"ssr-{digits}", f"SSR {digits}"))
    refs = tuple(r for r in original.customer.refs if r[0] not in ("ssr", "parcel"))
    changes: dict[str, object] = {"refs": (*refs, ("ssr", variant))}
    note = f"ssr {p.ssr} / {variant}"
    if pl.rng.random() < 0.4:
        c = original.customer
        changes.update(
            first_name=c.first_name.upper() if c.first_name else None,
            middle_name=c.middle_name.upper() if c.middle_name else None,
            last_name=c.last_name.upper() if c.last_name else None,
        )
        note += "; name in capitals"
    pl.duplicate("imported_twice", original, note, **changes)


# -- one person, several accounts -------------------------------------------------------------


def several_accounts(pl: Planner) -> None:
    """A landlord: the home account, and rental houses whose bills go to the home address."""
    p = pl.person(phone=True)
    home = pl.location()
    slots = [pl.account(p, home, parcel=1.0)]
    line = f"{home.address.format()}, {CITY}, {STATE} {home.address.street.zip}"
    for _ in range(pl.rng.randint(1, 3)):
        rental = pl.location()
        slots.append(pl.account(p, rental, parcel=1.0, habit=("prompt", 0), mailing_address=line))
    note = f"{_name(slots[0])} at {len(slots)} service locations, billed to the home address"
    pl.truth.append(("same_customer_several_accounts", slots, note))


def consolidated_billing(pl: Planner) -> None:
    """An apartment owner: the master account (common area) and each unit as a member."""
    rng = pl.rng
    owner = pl.business(BUSINESS_WORDS)
    base = pl.address()
    group: list[Loc] = []
    common = pl.location(base, group=group)
    office = f"PO Box {rng.randint(100, 9999)}, {CITY}, {STATE} {base.street.zip}"
    services = rng.choice((("GA",), ("WA", "GA")))
    master = pl.account(
        owner, common, services=services, habit=("prompt", 0), parcel=1.0, mailing_address=office
    )
    slots = [master]
    for unit in range(1, rng.randint(2, 5) + 1):
        loc = pl.location(replace(base, unit=str(unit)), group=group, like=common)
        slots.append(
            pl.account(
                owner,
                loc,
                services=("WA", "SE"),
                habit=("prompt", 0),
                parcel=0.0,
                master=master,
                mailing_address=office,
            )
        )
    pl.groups.append(group)
    note = f"{owner.business}: a master account and {len(slots) - 1} members"
    pl.truth.append(("consolidated_billing", slots, note))


# -- hard negatives ---------------------------------------------------------------------------


def _two_at_one_address(pl: Planner, a: Person, b: Person) -> tuple[list[Slot], str]:
    """``a`` and ``b`` at one street address: two service locations there (a house and its
    accessory unit), or one location where ``b`` took over the account from ``a``."""
    if pl.rng.random() < 0.6:
        address = pl.address()
        group: list[Loc] = []
        first = pl.location(address, group=group)
        second = pl.location(address, group=group, like=first)
        pl.groups.append(group)
        return [pl.account(a, first), pl.account(b, second)], "two service locations"
    loc = pl.location()
    moved = pl.rng.randint(2, N - 2)
    earlier = pl.account(a, loc, status="inactive", end=moved)
    return [earlier, pl.account(b, loc, start=moved)], "one took over the other's account"


def household_members(pl: Planner) -> None:
    a = pl.person()
    assert a.first and a.last
    taken = {a.first, NICKNAMES.get(a.first)}
    while True:
        other = first_name(pl.rng)
        if other not in taken and NICKNAMES.get(other) not in taken:
            break
    last = a.last if pl.rng.random() < 0.8 else last_name(pl.rng)
    b = pl.person(first=other, last=last)
    if a.phone and pl.rng.random() < 0.3:
        b = replace(b, phone=a.phone)
    slots, how = _two_at_one_address(pl, a, b)
    note = f"{_name(slots[0])} and {_name(slots[1])} at one address ({how})"
    pl.truth.append(("household_members", slots, note))


def father_son(pl: Planner) -> None:
    sr = pl.person(first=pl.rng.choice(SENIOR_FIRST))
    jr = pl.person(first=sr.first, last=sr.last)
    jr = replace(
        jr,
        middle=sr.middle if pl.rng.random() < 0.7 else jr.middle,
        suffix="Jr",
        email=None if jr.email == sr.email else jr.email,
    )
    sr = replace(sr, suffix="Sr" if pl.rng.random() < 0.8 else None)
    slots, how = _two_at_one_address(pl, sr, jr)
    note = f"{_name(slots[0])} and {_name(slots[1])} at one address ({how})"
    pl.truth.append(("father_son", slots, note))


def successive_tenants(pl: Planner) -> None:
    """Two or three occupants one after another at a location; all but the last inactive."""
    loc = pl.location()
    count = 3 if pl.rng.random() < 0.2 else 2
    bounds = [0, *sorted(pl.rng.sample(range(2, N - 1), count - 1)), N]
    lasts: set[str] = set()
    slots: list[Slot] = []
    for i in range(count):
        p = pl.person()
        while p.last in lasts:
            p = pl.person()
        assert p.last
        lasts.add(p.last)
        status = "active" if i == count - 1 else "inactive"
        slots.append(pl.account(p, loc, status=status, start=bounds[i], end=bounds[i + 1]))
    note = f"{count} occupants of {loc.address.format()}, one after another"
    pl.truth.append(("successive_tenants", slots, note))


def common_name(pl: Planner) -> None:
    """Two or three different people with one very common name, at different addresses."""
    first, last = pl.rng.choice(COMMON_FIRST), pl.rng.choice(COMMON_LAST)
    slots = [
        pl.account(pl.person(first=first, last=last), pl.location())
        for _ in range(pl.rng.randint(2, 3))
    ]
    pl.truth.append(("common_name", slots, f"{first} {last} at {len(slots)} addresses"))


PLANTERS: dict[str, Callable[[Planner], None]] = {
    "name_typo": name_typo,
    "transposed_letters": transposed_letters,
    "street_format": street_format,
    "unit_format": unit_format,
    "punctuation": punctuation,
    "nickname": nickname,
    "zip_format": zip_format,
    "phone_format": phone_format,
    "imported_twice": imported_twice,
    "same_customer_several_accounts": several_accounts,
    "consolidated_billing": consolidated_billing,
    "successive_tenants": successive_tenants,
    "household_members": household_members,
    "father_son": father_son,
    "common_name": common_name,
}
