"""The portal in a real browser (the portal web app under uvicorn over a synced store): a
resident registers and sees the balance; staff search with a typo and open the account; the
explain page for an ineligible customer; another's account URL is a 404; and a phone.

``CIVIC_SCREENSHOTS=docs/screenshots pytest tests/browser/test_portal.py`` refreshes
docs/screenshots/portal-*.png."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from civic.cli.serve import ledger_explainer
from civic.portal.web.app import create_app
from tests.api.conftest import serve
from tests.conftest import serving
from tests.portal.conftest import (  # noqa: F401
    api,
    portal,
    portal_pg_template,
    portal_sqlite_template,
    portal_url,
)
from tests.portal.web.conftest import PASSWORD, add_resident, add_staff, town_of_two

SHOTS = os.environ.get("CIVIC_SCREENSHOTS")


@pytest.fixture
def site(engine: Engine, portal: Engine) -> Iterator[str]:  # noqa: F811
    town_of_two(engine, portal)
    add_resident(portal, "rita@example.com", "2901-1", "River", 4400)
    add_staff(portal, "cleo", "clerk", "SPRINGFIELD")
    with (
        serving(portal) as served,
        serve(create_app(served, explain=ledger_explainer(engine))) as base,
    ):
        yield base


def shot(page: Page, engine: Engine, name: str) -> None:
    if SHOTS and engine.dialect.name == "sqlite":
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"portal-{name}.png"), full_page=True)


def sign_in(page: Page, site: str, login: str) -> None:
    page.goto(f"{site}/login")
    page.get_by_label("E-mail or username").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_resident_registers_and_sees_the_balance(site: str, page: Page, engine: Engine) -> None:
    page.goto(site)
    expect(page).to_have_url(f"{site}/login")
    page.get_by_role("link", name="Register with your account number").click()
    page.get_by_label("Account number").fill("1234-1")
    page.get_by_label("Last name on the account").fill("OBrien")
    page.get_by_label("Amount of your last bill").fill("68.27")
    page.get_by_label("Your e-mail address").fill("jane@example.com")
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    page.get_by_label("Amount of your last bill").fill("$70.51")
    page.get_by_label("Choose a password").fill(PASSWORD)
    shot(page, engine, "register")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="My accounts")).to_be_visible()
    shot(page, engine, "home")
    page.get_by_role("link", name="001234-01").click()
    expect(page.get_by_test_id("balance")).to_have_text("108.78")
    expect(page.get_by_text("Past due")).to_be_visible()
    expect(page.get_by_role("img", name="Billed and paid per month")).to_be_visible()
    expect(page.get_by_text("Dog on premises")).to_have_count(0)
    shot(page, engine, "account")


def test_staff_search_with_a_typo_and_open_the_account(
    site: str, page: Page, engine: Engine
) -> None:
    sign_in(page, site, "cleo")
    page.get_by_label("Name, account number, service address or phone").fill("jane obrein")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="results for")).to_be_visible()
    shot(page, engine, "search")
    page.get_by_role("link", name="Jane O'Brien").first.click()
    expect(page).to_have_url(f"{site}/accounts/SPRINGFIELD/001234-01")
    expect(page.get_by_role("heading", name="Alert messages")).to_be_visible()
    expect(page.get_by_text("Dog on premises: call ahead")).to_be_visible()
    expect(page.get_by_role("heading", name="Charges and payments")).to_be_visible()
    shot(page, engine, "account-clerk")
    page.get_by_role("link", name="Sync status").click()
    expect(page.get_by_role("status")).to_contain_text("The sync is running")
    shot(page, engine, "sync")


def test_explain_an_ineligible_customer(site: str, page: Page, engine: Engine) -> None:
    sign_in(page, site, "cleo")
    page.get_by_role("link", name="Why not shown?").click()
    page.get_by_label("What was searched for").fill("Mary Closed")
    page.get_by_role("button", name="Explain").click()
    expect(page.get_by_role("heading", name="Not eligible for the portal")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("the account is closed")
    shot(page, engine, "explain")
    page.get_by_role("link", name="Open the account").click()
    expect(page.get_by_role("status")).to_contain_text("Residents do not see this record")


def test_another_residents_account_is_not_found(site: str, page: Page) -> None:
    add_resident_jane(page, site)
    response = page.goto(f"{site}/accounts/RIVERTON/002901-01")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("Rita River")).to_have_count(0)


def add_resident_jane(page: Page, site: str) -> None:
    page.goto(f"{site}/register")
    page.get_by_label("Account number").fill("00123401")
    page.get_by_label("Last name on the account").fill("O'Brien")
    page.get_by_label("Amount of your last bill").fill("70.51")
    page.get_by_label("Your e-mail address").fill("jane@example.com")
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="My accounts")).to_be_visible()


def test_on_a_phone(site: str, phone: Page, engine: Engine) -> None:
    """Register, link a second account and read it on a phone-sized screen, with nothing
    wider than the screen but the tables' own scrolling boxes."""
    add_resident_jane(phone, site)
    phone.get_by_role("link", name="Link another account").first.click()
    phone.get_by_label("Account number").fill("1240-1")
    phone.get_by_label("Last name on the account").fill("O'Brien")
    phone.get_by_label("Amount of your last bill").fill("12.34")
    phone.get_by_role("button", name="Link this account").click()
    expect(phone.get_by_role("link", name="001240-01")).to_be_visible()
    shot(phone, engine, "phone-home")
    phone.get_by_role("link", name="001234-01").click()
    expect(phone.get_by_test_id("balance")).to_have_text("108.78")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= phone.viewport_size["width"] if phone.viewport_size else True, width
    shot(phone, engine, "phone-account")
