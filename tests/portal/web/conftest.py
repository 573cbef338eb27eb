"""A synced portal served for real: a small town in the ledger (two communities), synced into
the portal store, and the portal web app under uvicorn with the ledger's explain wired in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import Engine

from civic.cli.serve import ledger_explainer
from civic.db import transaction
from civic.ledger import service
from civic.portal.store import users
from civic.portal.web.app import create_app
from civic.sync.feeds import LedgerFeed
from civic.sync.run import sync_once
from tests.api.conftest import serve
from tests.builders import Town
from tests.conftest import serving
from tests.sync.helpers import TODAY, small_town

PASSWORD = "correct horse battery"


def town_of_two(ledger: Engine, portal: Engine) -> Town:
    """Seed 001's shapes in SPRINGFIELD (see ``small_town``: Jane O'Brien's last bill is the
    October water charge, 70.51), a second account of hers, an alert, and RIVERTON."""
    town = small_town(ledger)
    town.customer("Jane O'Brien", "1240-1", service_address="14 Main St").charge(
        "WA", "12.34", "2026-10-15"
    )
    with transaction(ledger) as s:
        service.add_alert(
            s, service.get_customer(s, "1234-1"), "Dog on premises: call ahead", actor="t"
        )
    river = Town(ledger, community="RIVERTON")
    river.customer("Rita River", "2901-1", service_address="1 River Rd").charge(
        "WA", "44.00", "2026-10-15"
    )
    sync_once(LedgerFeed(ledger, today=TODAY), portal)
    return town


def add_staff(portal: Engine, login: str, role: str, *communities: str) -> None:
    with transaction(portal) as s:
        users.add_staff_user(s, login, PASSWORD, role=role, communities=communities)


def add_resident(portal: Engine, email: str, account: str, name: str, amount: int) -> None:
    with transaction(portal) as s:
        users.register_resident(s, email, PASSWORD, account=account, name=name, bill_amount=amount)


@dataclass
class Site:
    base_url: str
    ledger: Engine
    portal: Engine

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=15)

    @contextmanager
    def signed_in(self, login: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
        with self.client() as client:
            r = client.post(
                "/login",
                data={"login": login, "password": password, "csrf": csrf(client, "/login")},
            )
            assert r.status_code == 303, r.text
            yield client


def csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@pytest.fixture
def site(engine: Engine, portal: Engine) -> Iterator[Site]:
    """Jane (resident of 1234-1 and 1240-1), Rita (resident of RIVERTON's 2901-1), Sam
    (support, SPRINGFIELD), Cleo (clerk, SPRINGFIELD), Rex (clerk, RIVERTON)."""
    town_of_two(engine, portal)
    add_resident(portal, "jane@example.com", "1234-1", "O'Brien", 7051)
    add_resident(portal, "rita@example.com", "2901-1", "River", 4400)
    add_staff(portal, "sam", "support", "SPRINGFIELD")
    add_staff(portal, "cleo", "clerk", "SPRINGFIELD")
    add_staff(portal, "rex", "clerk", "RIVERTON")
    with (
        serving(portal) as served,
        serve(create_app(served, explain=ledger_explainer(engine))) as base,
    ):
        yield Site(base, engine, portal)
