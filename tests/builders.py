"""Fixtures in the domain's own words: ``town.customer("Jane O'Brien").charge("WA", "68.27",
"2010-12-15")`` builds real rows through the public services, never through SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from civic.db import transaction
from civic.ledger import service
from civic.ledger.parsing import parse_date
from civic.money import parse_amount

ACTOR = "test"


@dataclass
class Town:
    engine: Engine
    community: str = "SPRINGFIELD"
    _next_location: int = field(default=1000)
    _made: bool = False

    def _ensure(self) -> None:
        if self._made:
            return
        with transaction(self.engine) as s:
            if not any(c.code == self.community for c in service.list_communities(s)):
                service.create_community(s, self.community, self.community.title(), actor=ACTOR)
        self._made = True

    def customer(self, name: str, account: str | None = None, **values: Any) -> Account:
        """A person ("First Last") or, with ``business=True``, a business name."""
        self._ensure()
        if account is None:
            self._next_location += 1
            account = f"{self._next_location:06d}-01"
        refs = values.pop("refs", [])
        if values.pop("business", False):
            values["business_name"] = name
        else:
            first, _, last = name.rpartition(" ")
            values.setdefault("first_name", first or None)
            values.setdefault("last_name", last)
        with transaction(self.engine) as s:
            comm = service.get_community(s, self.community)
            c = service.add_customer(s, comm, account, values, actor=ACTOR, refs=refs)
            number = c.account_number
        return Account(self, number)


@dataclass
class Account:
    town: Town
    account_number: str

    def _do(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with transaction(self.town.engine) as s:
            comm = service.get_community(s, self.town.community)
            c = service.get_customer(s, self.account_number, comm)
            return fn(s, c, *args, actor=ACTOR, **kwargs)

    def charge(self, svc: str, amount: str, on: str, period: str | None = None) -> Account:
        self._do(
            service.post_charge,
            svc,
            parse_amount(amount),
            parse_date(on, "date"),
            period=parse_date(period, "period") if period else None,
        )
        return self

    def fee(self, svc: str, amount: str, on: str) -> Account:
        self._do(service.post_fee, svc, parse_amount(amount), parse_date(on, "date"))
        return self

    def pay(
        self, amount: str, on: str, svc: str | None = None, ref: str | None = None
    ) -> list[int]:
        rows = self._do(
            service.post_payment,
            parse_amount(amount),
            parse_date(on, "date"),
            service_code=svc,
            reference=ref,
        )
        return [r.id for r in rows]

    def adjust(self, svc: str, amount: str, on: str) -> Account:
        self._do(service.post_adjustment, svc, parse_amount(amount), parse_date(on, "date"))
        return self

    def void(self, txn_id: int, on: str) -> int:
        row = self._do(service.post_void, txn_id, parse_date(on, "date"))
        return int(row.id)

    def balance(self, as_of: date | None = None) -> Any:
        with transaction(self.town.engine) as s:
            comm = service.get_community(s, self.town.community)
            c = service.get_customer(s, self.account_number, comm)
            return service.balance_report(s, c, as_of=as_of)
