"""The portal's pages over real HTTP: sign-in, registration, CSRF, rate limits, what each role
sees on an account page, staff search, explain and sync status, and the read-only answer."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from civic.config import Settings
from civic.errors import CivicError
from civic.portal.web.app import create_app
from tests.portal.web.conftest import PASSWORD, Site, csrf

JANE = "/accounts/SPRINGFIELD/001234-01"


def test_every_form_needs_its_csrf_token(site: Site) -> None:
    with site.client() as client:
        r = client.post("/login", data={"login": "sam", "password": PASSWORD})
        assert r.status_code == 403 and "expired" in r.text
        r = client.post("/login", data={"login": "sam", "password": PASSWORD, "csrf": "forged"})
        assert r.status_code == 403
        token = csrf(client, "/login")
        r = client.post("/login", data={"login": "sam", "password": PASSWORD, "csrf": token})
        assert r.status_code == 303
        # Signing in starts a fresh session: the old token no longer works.
        r = client.post("/logout", data={"csrf": token})
        assert r.status_code == 403
        r = client.post("/logout", data={"csrf": csrf(client, "/staff/search")})
        assert r.status_code == 303
        assert client.get("/staff/search").status_code == 303


def test_session_cookie_is_signed_and_httponly(site: Site) -> None:
    with site.client() as client:
        token = csrf(client, "/login")
        r = client.post("/login", data={"login": "sam", "password": PASSWORD, "csrf": token})
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        client.cookies.set("civic_portal", "forged.value.here")
        assert client.get("/staff/search").status_code == 303


def test_sign_in_is_rate_limited(site: Site) -> None:
    with site.client() as client:
        for _ in range(5):
            r = client.post(
                "/login",
                data={"login": "sam", "password": "wrong-password", "csrf": csrf(client, "/login")},
            )
            assert r.status_code == 401 and "Wrong e-mail, username or password" in r.text
        r = client.post(
            "/login", data={"login": "sam", "password": PASSWORD, "csrf": csrf(client, "/login")}
        )
        assert r.status_code == 429 and "Too many attempts" in r.text


def test_a_resident_registers_and_sees_the_balance(site: Site) -> None:
    with site.client() as client:
        form = {
            "email": "olaf@example.com",
            "password": PASSWORD,
            "account": "1234-1",
            "last_name": "O'Brien",
            "amount": "$68.27",
        }
        r = client.post("/register", data={**form, "csrf": csrf(client, "/register")})
        assert r.status_code == 422 and "do not match" in r.text
        form["amount"] = "70.51"
        form["last_name"] = "obrien"
        r = client.post("/register", data={**form, "csrf": csrf(client, "/register")})
        assert r.status_code == 303, r.text
        home = client.get("/")
        assert "001234-01" in home.text and "108.78" in home.text
        page = client.get(JANE)
        assert page.status_code == 200
        assert "108.78" in page.text and "Past due" in page.text
        assert "Charges and payments" in page.text and "<svg" in page.text
        assert "Dog on premises" not in page.text  # alerts are for clerks


def test_proving_accounts_is_rate_limited(site: Site) -> None:
    with site.signed_in("jane@example.com") as client:
        for i in range(10):
            data = {"account": "1240-1", "last_name": "O'Brien", "amount": f"{i}.00"}
            r = client.post("/link", data={**data, "csrf": csrf(client, "/link")})
            assert r.status_code == 422
        data = {"account": "1240-1", "last_name": "O'Brien", "amount": "12.34"}
        r = client.post("/link", data={**data, "csrf": csrf(client, "/link")})
        assert r.status_code == 429


def test_a_resident_links_a_second_account(site: Site) -> None:
    with site.signed_in("jane@example.com") as client:
        data = {"account": "00124001", "last_name": "O'BRIEN", "amount": "12.34"}
        r = client.post("/link", data={**data, "csrf": csrf(client, "/link")})
        assert r.status_code == 303, r.text
        home = client.get("/").text
        assert "001234-01" in home and "001240-01" in home
        assert client.get("/accounts/SPRINGFIELD/001240-01").status_code == 200
        # Any spelling of the number leads to the page.
        r = client.get("/accounts/SPRINGFIELD/1240-1")
        assert r.status_code == 303 and r.headers["location"].endswith("/001240-01")


def test_support_sees_names_and_balances_clerks_also_history_and_alerts(site: Site) -> None:
    with site.signed_in("sam") as sam:
        page = sam.get(JANE).text
        assert "Jane O&#39;Brien" in page and "108.78" in page and "Water" in page
        assert "Charges and payments" not in page and "Dog on premises" not in page
    with site.signed_in("cleo") as cleo:
        page = cleo.get(JANE).text
        assert "Charges and payments" in page and "Dog on premises: call ahead" in page
        assert "<svg" in page and "billed" in page


def test_staff_search_is_typo_tolerant_and_within_their_communities(site: Site) -> None:
    with site.signed_in("sam") as sam:
        page = sam.get("/staff/search", params={"q": "Jane OBrein"}).text
        assert f'href="{JANE}"' in page
        other = sam.get("/staff/search", params={"q": "Rita River"}).text
        assert "0 results" in other and "002901-01" not in other and "1 River Rd" not in other
        hidden = sam.get("/staff/search", params={"q": "Mary Closed", "hidden": "true"}).text
        assert "003001-01" in hidden and "closed" in hidden
        assert "003001-01" not in sam.get("/staff/search", params={"q": "Mary Closed"}).text
    with site.signed_in("rex") as rex:
        assert "002901-01" in rex.get("/staff/search", params={"q": "Rita Rivr"}).text


def test_explain_page_says_why(site: Site) -> None:
    with site.signed_in("cleo") as cleo:
        page = cleo.get("/staff/explain", params={"q": "Mary Closed"}).text
        assert 'data-verdict="not_eligible"' in page and "the account is closed" in page
        page = cleo.get("/staff/explain", params={"q": "Rita River"}).text
        assert 'data-verdict="other_community"' in page and "RIVERTON" in page
        assert "002901-01" not in page and "Rita River (" not in page


def test_sync_status_page(site: Site) -> None:
    with site.signed_in("sam") as sam:
        page = sam.get("/staff/sync").text
        assert "The sync is running" in page and "Last successful run" in page
        assert "Behind the ledger" in page and "Last error" in page


def test_the_portal_never_changes_a_record(site: Site) -> None:
    with site.signed_in("cleo") as cleo:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            r = cleo.request(method, JANE, data={"balance": "0"})
            assert r.status_code == 405 and "corrections are made in the system of record" in r.text
            r = cleo.request(method, JANE, headers={"Accept": "application/json"})
            assert r.status_code == 405
            assert r.json()["error"]["code"] == "read_only"
        r = cleo.post("/staff/search", data={"q": "x"})
        assert r.status_code == 405 and "system of record" in r.text


def test_production_refuses_a_placeholder_secret(portal: Engine) -> None:
    with pytest.raises(CivicError, match="secret key"):
        create_app(portal, Settings(environment="production", secret_key="change-me"))
    create_app(portal, Settings(environment="production", secret_key="x" * 40))


def test_sign_in_returns_to_the_page_asked_for_and_never_off_site(site: Site) -> None:
    with site.client() as client:
        r = client.get(JANE)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={JANE}"
        for target, expected in ((JANE, JANE), ("//evil.example", "/"), ("https://x.y", "/")):
            r = client.post(
                "/login",
                data={"login": "jane@example.com", "password": PASSWORD, "next": target,
                      "csrf": csrf(client, "/login")},
            )  # fmt: skip
            assert r.status_code == 303 and r.headers["location"] == expected
