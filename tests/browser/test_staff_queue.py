"""The review queue in a real browser: a suspected duplicate found by the real matching run,
its evidence chart, accept, and merge through the preview — then the queue shows it merged."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from civic.api.app import create_app
from civic.db import read_only, transaction
from civic.demo.load import load_demo
from civic.demo.model import DemoOptions
from civic.ledger import service
from civic.matching import service as matching
from tests.api.conftest import serve
from tests.api.test_staff_pages import PASSWORD, make_staff
from tests.builders import Town
from tests.conftest import serving

SHOTS = os.environ.get("CIVIC_SCREENSHOTS")
COMMUNITY = "MAPLEFALLS"


@pytest.fixture
def site(engine: Engine) -> Iterator[str]:
    load_demo(
        engine, DemoOptions(seed=11, customers=400, as_of=date(2026, 10, 31), community=COMMUNITY)
    )
    town = Town(engine, community=COMMUNITY, _next_location=900000)
    town.customer(
        "Jane O'Brien",
        account="900001-01",
        service_address="12 North Main Street Apt 3",
        phone="(541) 555-0199",
        refs=[("ssr", "SSR-1234567")],
    )
    town.customer(
        "JANE OBRIEN",
        account="900002-01",
        service_address="12 N Main St #3",
        phone="541.555.0199",
        refs=[("ssr", " ssr 1234567")],
    ).charge("WA", "40.00", "2026-09-05")
    matching.run(engine, actor="test")
    make_staff(engine, "sue", "supervisor", COMMUNITY)
    with serving(engine) as served, serve(create_app(served)) as base:
        yield base


def _pair_id(engine: Engine) -> int:
    with read_only(engine) as s:
        for p in matching.list_pairs(s):
            if {p.left.account_number, p.right.account_number} == {"900001-01", "900002-01"}:
                return p.id
    raise AssertionError("the planted duplicate was not suggested")


def test_review_accept_and_merge_from_the_queue(site: str, page: Page, engine: Engine) -> None:
    pair_id = _pair_id(engine)
    page.goto(f"{site}/staff/login")
    page.get_by_label("Username").fill("sue")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Review queue").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    page.get_by_role("link", name=str(pair_id), exact=True).click()

    expect(page.get_by_role("heading", name=f"Suggested pair {pair_id}")).to_be_visible()
    chart = page.get_by_role("img", name="Waterfall of match weights")
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() >= 3  # prior, comparisons, total
    if SHOTS and engine.dialect.name == "sqlite":
        Path(SHOTS).mkdir(exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / "staff-pair-evidence.png"), full_page=True)

    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("status")).to_have_text("accepted")
    page.get_by_role("link", name="Merge 900002-01 into 900001-01…").click()
    page.get_by_role("button", name="Merge 900002-01 into 900001-01").click()
    expect(page.get_by_role("status")).to_contain_text("900002-01 is inactive and leads to")
    with transaction(engine) as s:
        kept = service.get_customer(s, "900001-01")
        assert service.total_balance(s, kept.id) == 4000
        assert matching.get_pair(s, pair_id).status == "merged"
