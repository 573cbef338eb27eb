"""Staff merge and undo in a real browser (the ledger's FastAPI app under uvicorn)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from civic.api.app import create_app
from civic.db import transaction
from civic.ledger import service
from tests.api.conftest import serve
from tests.api.test_staff_pages import PASSWORD, make_staff
from tests.builders import Town
from tests.conftest import serving

# `CIVIC_SCREENSHOTS=docs/screenshots pytest tests/browser` refreshes the screenshots in docs/.
SHOTS = os.environ.get("CIVIC_SCREENSHOTS")


@pytest.fixture
def site(town: Town, engine: Engine) -> Iterator[str]:
    town.customer("Jane Smith", account="1000-01", service_address="12 Main St")
    dup = town.customer(
        "Jane Smyth", account="2000-01", service_address="12 Main Street", phone="217-555-0101"
    )
    dup.charge("WA", "68.27", "2024-01-05")
    make_staff(engine, "sue", "supervisor")
    with serving(engine) as served, serve(create_app(served)) as base:
        yield base


def test_supervisor_previews_merges_and_undoes(site: str, page: Page, engine: Engine) -> None:
    page.goto(f"{site}/staff/merges")
    expect(page).to_have_url(f"{site}/staff/login?next=/staff/merges")
    page.get_by_label("Username").fill("sue")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Merges")).to_be_visible()

    page.goto(f"{site}/staff/")
    page.get_by_label("Duplicate record to make inactive").fill("2000-1")
    page.get_by_label("Record that stays").fill("1000-1")
    page.get_by_role("button", name="Preview the merge").click()
    expect(page.get_by_role("heading", name="Merge 002000-01 into 001000-01")).to_be_visible()
    page.get_by_label("take service_address from 002000-01").check()
    page.get_by_role("button", name="Update the preview").click()
    expect(page.get_by_role("row", name="service_address")).to_contain_text("12 Main Street")
    if SHOTS and engine.dialect.name == "sqlite":
        Path(SHOTS).mkdir(exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / "staff-merge-preview.png"), full_page=True)
    page.get_by_role("button", name="Merge 002000-01 into 001000-01").click()
    expect(page.get_by_role("status")).to_contain_text(
        "002000-01 is inactive and leads to 001000-01"
    )
    with transaction(engine) as s:
        kept = service.get_customer(s, "1000-01")
        assert kept.service_address == "12 Main Street"
        assert service.total_balance(s, kept.id) == 6827

    page.get_by_role("button", name="Undo this merge").click()
    expect(page.get_by_role("status")).to_contain_text("002000-01 is restored")
    with transaction(engine) as s:
        assert service.get_customer(s, "1000-01").service_address == "12 Main St"
        assert service.get_customer(s, "2000-01").status == "active"
