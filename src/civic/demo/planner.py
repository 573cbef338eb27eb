"""The block planner: places (streets, house numbers, buildings, units), people, and the
accounts at each location, plus the truth groups that refer to accounts before they have
numbers. ``finish`` numbers the locations and returns frozen customers.

Block ``b`` numbers its locations from ``010001 + 4750 b``; gaps between blocks are normal. A
duplicate entered later at a new location number (an import) is numbered after the block's
other locations, as a later record would be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from random import Random
from typing import Any

from civic.demo.model import HISTORY_MONTHS, Calendar, DemoCustomer, DemoOptions
from civic.demo.names import SHOP_WORDS
from civic.demo.people import (
    CITY,
    PHONE_STYLES,
    STATE,
    Address,
    Person,
    Street,
    format_phone,
    person,
    phone_digits,
    ssr_value,
    town_streets,
)
from civic.demo.truth import TruthGroup

BLOCK_SIZE = 5_000
BLOCK_LOCATIONS = 4_750
FIRST_LOCATION = 10_001
HOUSE_SLOTS = 80
N = HISTORY_MONTHS

NOTES = (
    "Dog in yard: call before reading the meter",
    "Meter behind locked gate: key at the front office",
    "Customer prefers contact by e-mail",
    "Hearing impaired: use the relay service",
    "Send mail to the executor of the estate",
)
OTHER_CITIES = ("Eugene, OR 97401", "Salem, OR 97301", "Portland, OR 97214", "Boise, ID 83702")


@dataclass(frozen=True)
class Block:
    """One planned block: its customers in account-number order, and its truth groups."""

    index: int
    customers: tuple[DemoCustomer, ...]
    truth: tuple[TruthGroup, ...]


@dataclass(eq=False)
class Loc:
    address: Address
    parcel: str
    zip4: str
    slots: list[Slot] = field(default_factory=list)
    number: int = 0


@dataclass(eq=False)
class Slot:
    customer: DemoCustomer
    loc: Loc
    master: Slot | None = None
    number: str = ""


class Planner:
    """Builds one block: locations in groups (a building's units stay together), accounts at
    them, and truth groups referring to the accounts before they have numbers."""

    def __init__(self, options: DemoOptions, index: int, size: int) -> None:
        self.rng = Random(f"civic-demo:{options.seed}:block:{index}")
        self.cal = Calendar.for_as_of(options.as_of)
        self.streets = town_streets(options.seed)
        self.index = index
        self.size = size
        self.groups: list[list[Loc]] = []
        self.late: list[Loc] = []
        self.truth: list[tuple[str, list[Slot], str]] = []
        self.count = 0
        self.houses: dict[int, int] = {}
        self.ssr_serial = index * BLOCK_SIZE
        self.emails: set[str] = set()

    # -- places ---------------------------------------------------------------------------

    def address(self, ok: Callable[[Street], bool] | None = None) -> Address:
        """A new street address (house numbers never repeat on a street across blocks)."""
        rng = self.rng
        while True:
            si = rng.randrange(len(self.streets))
            street = self.streets[si]
            used = self.houses.get(si, 0)
            if used >= HOUSE_SLOTS or (ok is not None and not ok(street)):
                continue
            self.houses[si] = used + 1
            number = street.first_number + 4 * (self.index * HOUSE_SLOTS + used)
            number += rng.randint(0, 3)
            return Address(number, street)

    def location(
        self,
        address: Address | None = None,
        *,
        group: list[Loc] | None = None,
        like: Loc | None = None,
        late: bool = False,
    ) -> Loc:
        """A service location: in a new group, an existing ``group``, or numbered ``late``
        (after all others, as a later import would be); ``like`` shares parcel and ZIP+4."""
        rng = self.rng
        address = address or self.address()
        if like is not None:
            parcel, zip4 = like.parcel, like.zip4
        else:
            parcel = (
                f"17-{rng.randint(1, 6):02d}-{rng.randint(1, 36):02d}-"
                f"{rng.randint(10, 44)}-{rng.randint(100, 9999):05d}"
            )
            zip4 = f"{address.street.zip}-{rng.randint(1000, 9999)}"
        loc = Loc(address, parcel, zip4)
        if late:
            self.late.append(loc)
        elif group is not None:
            group.append(loc)
        else:
            self.groups.append([loc])
        return loc

    def unit_label(self) -> str:
        rng = self.rng
        style = rng.random()
        if style < 0.4:
            return str(rng.randint(1, 24))
        if style < 0.7:
            return f"{rng.randint(1, 3)}{rng.randint(1, 12):02d}"
        return rng.choice("ABCD")

    # -- people and accounts --------------------------------------------------------------

    def person(
        self,
        *,
        first: str | None = None,
        last: str | None = None,
        ssr: bool | None = None,
        phone: bool = False,
    ) -> Person:
        """A new resident; e-mail addresses are never shared by two people of one block."""
        p = person(self.rng, first=first, last=last)
        email = p.email
        if email is not None:
            if email in self.emails:
                p = replace(p, email=None)
            else:
                self.emails.add(email)
        if phone and p.phone is None:
            p = replace(p, phone=phone_digits(self.rng))
        if ssr is None:
            ssr = self.rng.random() < 0.06
        if ssr:
            self.ssr_serial += 1
            p = replace(p, ssr=ssr_value(self.ssr_serial))
        return p

    def business(self, words: tuple[str, ...]) -> Person:
        rng = self.rng
        street = rng.choice([s for s in self.streets if s.name[0].isalpha()])
        return Person(
            first=None,
            middle=None,
            last=None,
            business=f"{street.name} {rng.choice(words)}",
            phone=phone_digits(rng),
            email=f"office@{street.name.lower().replace(' ', '')}.example.com",
        )

    def created(self, start: int) -> date:
        if start > 0:
            return self.cal.day_in_period(start, self.rng)
        first = date(1995, 1, 1).toordinal()
        last = (self.cal.period_ends[0] - timedelta(days=30)).toordinal()
        return date.fromordinal(self.rng.randint(first, last))

    def habit(self, status: str, start: int, end: int) -> tuple[str, int]:
        """How the customer pays, and for a delinquent one how many last bills are unpaid."""
        rng = self.rng
        span = end - start
        roll = rng.random()
        if status != "active":
            return ("delinquent", min(span, rng.randint(1, 4))) if roll < 0.15 else ("prompt", 0)
        if roll < 0.06 and span >= 3:
            return "delinquent", rng.randint(3, min(9, span))
        if roll < 0.15:
            return "late", 0
        if roll < 0.18:
            return "partial", 0
        if roll < 0.20:
            return "credit", 0
        return "prompt", 0

    def services(self, business: bool) -> tuple[str, ...]:
        roll = self.rng.random()
        if business or roll < 0.75:
            return ("WA", "SE", "GA")
        if roll < 0.90:
            return ("WA", "SE")
        if roll < 0.95:
            return ("WA", "GA")
        return ("GA",)

    def collections(
        self, behaviour: str, unpaid: int, status: str
    ) -> tuple[str | None, tuple[str, ...]]:
        """A collection code and alert messages fitting how far behind the customer is."""
        rng = self.rng
        code: str | None = None
        alerts: list[str] = []
        if behaviour == "delinquent":
            if status != "active":
                code = "COL" if unpaid >= 2 else None
            elif unpaid >= 6:
                code = "COL"
            elif unpaid >= 4:
                code = "SHUTOFF"
            elif rng.random() < 0.3:
                code = "PLAN"
            if status == "active" and unpaid >= 4 and rng.random() < 0.5:
                notice = min(self.cal.as_of, self.cal.period_ends[-1] + timedelta(days=5))
                alerts.append(f"Shut-off notice mailed {notice.isoformat()}")
        if rng.random() < 0.012:
            alerts.append(rng.choice(NOTES))
        return code, tuple(alerts)

    def mailing(self) -> str | None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.85:
            return None
        if roll < 0.95:
            box = rng.randint(100, 9999)
            return f"PO Box {box}, {CITY}, {STATE} {rng.choice(('97471', '97473'))}"
        street = rng.choice(self.streets)
        return f"{rng.randint(100, 9999)} {street.name} {street.kind}, {rng.choice(OTHER_CITIES)}"

    def account(
        self,
        p: Person,
        loc: Loc,
        *,
        status: str = "active",
        start: int = 0,
        end: int = N,
        habit: tuple[str, int] | None = None,
        services: tuple[str, ...] | None = None,
        parcel: float = 0.5,
        zip4: float = 0.35,
        master: Slot | None = None,
        **overrides: Any,
    ) -> Slot:
        """An account for ``p`` at ``loc`` (the next occupant there)."""
        rng = self.rng
        behaviour, unpaid = habit or self.habit(status, start, end)
        code, alerts = self.collections(behaviour, unpaid, status)
        refs: list[tuple[str, str]] = []
        if rng.random() < parcel:
            refs.append(("parcel", loc.parcel))
        if p.ssr:
            refs.append(("ssr", p.ssr))
        customer = DemoCustomer(
            number="",
            location=0,
            occupant=0,
            first_name=p.first,
            middle_name=p.middle,
            last_name=p.last,
            suffix=p.suffix,
            business_name=p.business,
            service_address=loc.address.format(),
            mailing_address=self.mailing(),
            city=CITY,
            state=STATE,
            zip=loc.zip4 if rng.random() < zip4 else loc.address.street.zip,
            phone=format_phone(p.phone, rng.choice(PHONE_STYLES)) if p.phone else None,
            email=p.email,
            status=status,
            online_access=rng.random() < (0.9 if status == "active" else 0.3),
            collection_code=code,
            master=None,
            created_date=self.created(start),
            refs=tuple(refs),
            alerts=alerts,
            services=services or self.services(p.business is not None),
            start=start,
            end=end,
            behaviour=behaviour,
            unpaid=unpaid,
            garbage_cart=64 if rng.random() < 0.7 else 96,
            is_business=p.business is not None,
        )
        slot = Slot(replace(customer, **overrides), loc, master)
        loc.slots.append(slot)
        self.count += 1
        return slot

    def duplicate(self, kind: str, original: Slot, note: str, **changes: Any) -> Slot:
        """Record ``original``'s person a second time, created later, differing by
        ``changes``: at the same location (next occupant) or at a new location number."""
        rng = self.rng
        c = original.customer
        late = kind == "imported_twice" or rng.random() < 0.35
        loc = self.location(original.loc.address, late=True, like=original.loc) if late else None
        start = rng.randint(1, N - 1)
        roll = rng.random()
        behaviour = "none" if roll < 0.5 else "garbage" if roll < 0.85 else "misapplied"
        copy = replace(
            c,
            created_date=self.cal.day_in_period(start, rng),
            start=start,
            end=N,
            status="active",
            behaviour="prompt" if behaviour == "garbage" else behaviour,
            unpaid=0,
            services=() if behaviour == "none" else ("GA",),
            collection_code=None,
            alerts=(),
            master=None,
            refs=tuple(r for r in c.refs if r[0] != "ssr"),
            email=c.email if rng.random() < 0.5 else None,
            mailing_address=c.mailing_address if rng.random() < 0.7 else None,
            online_access=rng.random() < 0.5,
        )
        target = loc or original.loc
        slot = Slot(replace(copy, **changes), target)
        target.slots.append(slot)
        self.count += 1
        self.truth.append((kind, [original, slot], note))
        return slot

    # -- ordinary town ----------------------------------------------------------------------

    def ordinary(self) -> None:
        """One ordinary location (or a small apartment building if there is room)."""
        rng = self.rng
        if self.size - self.count >= 6 and rng.random() < 0.04:
            base = self.address()
            group: list[Loc] = []
            first: Loc | None = None
            for label in sorted({self.unit_label() for _ in range(rng.randint(2, 6))}):
                first = self.location(replace(base, unit=label), group=group, like=first)
                self.account(self.person(), first, parcel=0.0)
            self.groups.append(group)
            return
        loc = self.location()
        business = rng.random() < 0.04
        p = self.business(SHOP_WORDS) if business else self.person()
        roll = rng.random()
        if roll < 0.05:
            self.account(p, loc, status="inactive", end=rng.randint(1, N - 1))
        elif roll < 0.08:
            self.account(p, loc, status="closed", end=rng.randint(1, N - 1))
        else:
            start = rng.randint(1, N - 2) if rng.random() < 0.04 else 0
            self.account(p, loc, start=start)

    def finish(self) -> Block:
        """Number the locations (groups shuffled, late ones last) and the accounts."""
        self.rng.shuffle(self.groups)
        locs = [loc for group in self.groups for loc in group] + self.late
        if len(locs) > BLOCK_LOCATIONS:
            raise AssertionError(f"block {self.index} needs {len(locs)} locations")
        base = FIRST_LOCATION + self.index * BLOCK_LOCATIONS
        for offset, loc in enumerate(locs):
            loc.number = base + offset
            for occupant, slot in enumerate(loc.slots, 1):
                slot.number = f"{loc.number:06d}-{occupant:02d}"
        customers = tuple(
            replace(
                slot.customer,
                number=slot.number,
                location=loc.number,
                occupant=occupant,
                master=slot.master.number if slot.master else None,
            )
            for loc in locs
            for occupant, slot in enumerate(loc.slots, 1)
        )
        truth = tuple(
            TruthGroup(kind, tuple(s.number for s in slots), note)
            for kind, slots, note in self.truth
        )
        return Block(self.index, customers, truth)
