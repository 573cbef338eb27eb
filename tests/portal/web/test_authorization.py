"""Every route of the portal, as everyone who must not see Jane O'Brien's account: nobody
signed in, another resident (Rita), and a clerk of another community (Rex). The routes come
from ``app.routes``: a new page fails this test until it is listed here with what each of
them gets. None of their answers may carry anything of Jane's account."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi.routing import iter_route_contexts

from civic.db import make_engine
from civic.portal.web.app import create_app
from tests.portal.web.conftest import PASSWORD, Site, csrf

ANON, RESIDENT, STAFF = "anonymous", "rita@example.com", "rex"
VICTIM_COMMUNITY, VICTIM_ACCOUNT = "SPRINGFIELD", "001234-01"
SECRETS = ("001234-01", "00123401", "12 Main St", "108.78", "70.51", "Dog on premises")
"""Jane's account number (both spellings), address, balance, last bill and alert."""
PARAMS = {
    "community": VICTIM_COMMUNITY,
    "account": VICTIM_ACCOUNT,
    "rest": f"{VICTIM_COMMUNITY}/{VICTIM_ACCOUNT}",
}
QUERY = {"q": "Jane O'Brien", "hidden": "true"}
"""Search and explain are asked for her by name, hidden records included."""
FORMS = {
    "/login": {"login": "jane@example.com", "password": "not her password"},
    "/register": {
        "email": "mallory@example.com",
        "password": PASSWORD,
        "account": "1234-1",
        "last_name": "O'Brien",
        "amount": "1.00",
    },
    "/link": {"account": "1234-1", "last_name": "O'Brien", "amount": "1.00"},
}
SIGN_IN = 303
WRITE = 405
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/"): {ANON: SIGN_IN, RESIDENT: 200, STAFF: 303},
    ("GET", "/login"): {ANON: 200, RESIDENT: 200, STAFF: 200},
    ("POST", "/login"): {ANON: 401, RESIDENT: 401, STAFF: 401},
    ("POST", "/logout"): {ANON: 303, RESIDENT: 303, STAFF: 303},
    ("GET", "/register"): {ANON: 200, RESIDENT: 303, STAFF: 303},
    ("POST", "/register"): {ANON: 422, RESIDENT: 422, STAFF: 422},
    ("GET", "/link"): {ANON: SIGN_IN, RESIDENT: 200, STAFF: 404},
    ("POST", "/link"): {ANON: SIGN_IN, RESIDENT: 422, STAFF: 404},
    ("GET", "/accounts/{community}/{account}"): {ANON: SIGN_IN, RESIDENT: 404, STAFF: 404},
    **{
        (method, path): {ANON: WRITE, RESIDENT: WRITE, STAFF: WRITE}
        for method in ("POST", "PUT", "PATCH", "DELETE")
        for path in ("/accounts", "/accounts/{rest:path}")
    },
    ("GET", "/staff/search"): {ANON: SIGN_IN, RESIDENT: 404, STAFF: 200},
    ("GET", "/staff/explain"): {ANON: SIGN_IN, RESIDENT: 404, STAFF: 200},
    ("GET", "/staff/sync"): {ANON: SIGN_IN, RESIDENT: 404, STAFF: 200},
}


def every_route() -> list[tuple[str, str]]:
    """(method, path) of every route of the app, routers included (``app.routes`` holds
    FastAPI's included routers; ``iter_route_contexts`` opens them)."""
    app = create_app(make_engine("sqlite:///:memory:"))
    out = []
    for route in iter_route_contexts(app.routes):
        assert route.path is not None and route.methods, f"unexpected route {route!r}"
        for method in sorted(route.methods):
            if method != "HEAD":
                out.append((method, route.path))
    return out


@contextmanager
def as_(site: Site, who: str) -> Iterator[httpx.Client]:
    if who == ANON:
        with site.client() as client:
            yield client
    else:
        with site.signed_in(who) as client:
            yield client


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS[m.group(1)], path)


def test_every_route_is_listed() -> None:
    assert sorted(every_route()) == sorted(EXPECTED)


def test_no_route_shows_an_account_to_anyone_else(site: Site) -> None:
    seen = 0
    for method, path in every_route():
        for who, status in EXPECTED[(method, path)].items():
            with as_(site, who) as client:
                url = concrete(path)
                if method == "GET":
                    r = client.get(url, params=QUERY)
                else:
                    token = csrf(client, "/login")
                    r = client.request(method, url, data={**FORMS.get(path, {}), "csrf": token})
                assert r.status_code == status, f"{who}: {method} {url} -> {r.status_code}"
                if status == SIGN_IN and who == ANON:
                    assert r.headers["location"].startswith("/login") or path == "/"
                for secret in SECRETS:
                    assert secret not in r.text, f"{who}: {method} {url} shows {secret!r}"
                seen += 1
    assert seen == 3 * len(EXPECTED)


def test_not_yours_reads_exactly_like_not_there(site: Site) -> None:
    """A resident or another community's clerk cannot tell Jane's account from none."""
    for who in (RESIDENT, STAFF):
        with as_(site, who) as client:
            mine = client.get(f"/accounts/{VICTIM_COMMUNITY}/{VICTIM_ACCOUNT}")
            none = client.get(f"/accounts/{VICTIM_COMMUNITY}/009999-01")
            assert mine.status_code == none.status_code == 404
            assert mine.text == none.text


def test_the_owner_and_her_communitys_staff_do_see_it(site: Site) -> None:
    """The control: the same URL is open to those who may see it."""
    for who in ("jane@example.com", "sam", "cleo"):
        with as_(site, who) as client:
            r = client.get(f"/accounts/{VICTIM_COMMUNITY}/{VICTIM_ACCOUNT}")
            assert r.status_code == 200 and "108.78" in r.text, who
