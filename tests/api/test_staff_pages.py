"""The staff pages over real HTTP: sign-in, rate limit, CSRF, community boundaries, and merge +
undo through the forms."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from civic.db import transaction
from civic.ledger import service
from civic.ledger.staff import add_staff
from tests.api.conftest import LiveApi
from tests.builders import Town

PASSWORD = "correct horse battery"


def make_staff(engine: Engine, username: str, role: str = "clerk", *communities: str) -> None:
    with transaction(engine) as s:
        add_staff(
            s, username, PASSWORD, role=role, communities=communities or ("SPRINGFIELD",), actor="t"
        )


def sign_in(api: LiveApi, username: str, password: str = PASSWORD) -> httpx.Client:
    client = api.client()
    r = client.post("/staff/login", data={"username": username, "password": password})
    assert r.status_code == 303, r.text
    return client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@pytest.fixture
def dupes(town: Town, engine: Engine) -> None:
    town.customer("Jane Smith", account="1000-01")
    town.customer("Jane Smyth", account="2000-01", phone="217-555-0101").charge(
        "WA", "68.27", "2024-01-05"
    )
    Town(engine, community="SHELBYVILLE").customer("Otto Mann", account="5000-01")


@pytest.fixture
def clerk(api: LiveApi, dupes: None) -> Iterator[httpx.Client]:
    make_staff(api.engine, "clerk")
    client = sign_in(api, "clerk")
    yield client
    client.close()


def test_pages_need_a_signed_in_user(api: LiveApi) -> None:
    with api.client() as client:
        r = client.get("/staff/merges")
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login")
        client.cookies.set("civic_session", "forged.cookie.value", path="/staff")
        assert client.get("/staff/").status_code == 303


def test_wrong_password_then_rate_limit(api: LiveApi, dupes: None) -> None:
    make_staff(api.engine, "ann")
    with api.client() as client:
        for _ in range(5):
            r = client.post("/staff/login", data={"username": "ann", "password": "nope-nope"})
            assert r.status_code == 401 and "Wrong username or password" in r.text
        r = client.post("/staff/login", data={"username": "ann", "password": PASSWORD})
        assert r.status_code == 429 and "Too many attempts" in r.text


def test_session_cookie_is_httponly_and_signed(api: LiveApi, dupes: None) -> None:
    make_staff(api.engine, "ann")
    with api.client() as client:
        r = client.post("/staff/login", data={"username": "ann", "password": PASSWORD})
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/staff" in cookie


def test_merge_and_undo_through_the_forms(api: LiveApi, clerk: httpx.Client) -> None:
    preview = clerk.get("/staff/merge", params={"source": "2000-1", "into": "1000-1"})
    assert preview.status_code == 200
    assert "217-555-0101" in preview.text and "68.27" in preview.text
    # a form without the session's CSRF token is refused, and changes nothing
    r = clerk.post("/staff/merge", data={"source": "2000-1", "into": "1000-1", "csrf": "x"})
    assert r.status_code == 403
    r = clerk.post(
        "/staff/merge", data={"source": "2000-1", "into": "1000-1", "csrf": csrf_of(preview)}
    )
    assert r.status_code == 303
    detail = clerk.get(r.headers["location"])
    assert "002000-01 is inactive and leads to 001000-01" in detail.text
    assert "A supervisor can undo" in detail.text
    merge_path = r.headers["location"]
    r = clerk.post(f"{merge_path}/undo", data={"csrf": csrf_of(detail)})
    assert r.status_code == 403 and "only a supervisor" in r.text

    make_staff(api.engine, "sue", "supervisor")
    sue = sign_in(api, "sue")
    page = sue.get(merge_path)
    r = sue.post(f"{merge_path}/undo", data={"csrf": csrf_of(page)})
    assert r.status_code == 303
    assert "is restored" in sue.get(merge_path).text
    sue.close()
    with transaction(api.engine) as s:
        assert service.get_customer(s, "2000-01").status == "active"


def test_staff_never_see_another_community(api: LiveApi, clerk: httpx.Client) -> None:
    r = clerk.get("/staff/merge", params={"source": "5000-1", "into": "1000-1"})
    assert r.status_code == 404 and "no customer with account 5000-1" in r.text


def test_a_refused_merge_is_a_page_naming_the_reason(api: LiveApi, clerk: httpx.Client) -> None:
    page = clerk.get("/staff/merge", params={"source": "1000-1", "into": "1000-1"})
    assert "cannot be merged into itself" in page.text
    r = clerk.post(
        "/staff/merge", data={"source": "1000-1", "into": "1000-1", "csrf": csrf_of(page)}
    )
    assert r.status_code == 409 and "cannot be merged into itself" in r.text


def test_signing_out_ends_the_session_everywhere(api: LiveApi, clerk: httpx.Client) -> None:
    home = clerk.get("/staff/")
    stolen = dict(clerk.cookies)
    r = clerk.post("/staff/logout", data={"csrf": csrf_of(home)})
    assert r.status_code == 303
    with api.client() as other:
        for name, value in stolen.items():
            other.cookies.set(name, value, path="/staff")
        r = other.get("/staff/")
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login")


def test_a_sign_in_posted_from_another_site_is_refused(api: LiveApi, dupes: None) -> None:
    make_staff(api.engine, "ann")
    with api.client() as client:
        r = client.post(
            "/staff/login",
            data={"username": "ann", "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        assert r.status_code == 403 and "civic_session" not in r.headers.get("set-cookie", "")
