"""Every error status over HTTP, each in the one shape ``{"error": {code, message, details}}``:
401 (no, bad, unknown, revoked token), 403 (scope), 404, 405, 422 (ours and FastAPI's)."""

from __future__ import annotations

import httpx
import pytest

from civic.db import transaction
from civic.ledger import tokens
from tests.api.conftest import assert_error, customer_id

CUSTOMER_PATHS = [
    "/api/v1/customers",
    "/api/v1/customers/1",
    "/api/v1/customers/by-account/001234-01",
    "/api/v1/customers/1/balances",
    "/api/v1/customers/1/transactions",
]
ALL_PATHS = [*CUSTOMER_PATHS, "/api/v1/changes"]


@pytest.mark.parametrize("path", ALL_PATHS)
def test_no_token_is_401_on_every_endpoint(api, path):
    with api.client() as anonymous:
        r = anonymous.get(path)
    err = assert_error(r, 401, "unauthorized")
    assert "Authorization: Bearer" in err["message"]
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-civic-token",
        "Bearer cl_" + "x" * 43,
        "Bearer cl_" + "x" * 500,
    ],
)
def test_a_bad_token_is_401(api, header):
    with api.client() as client:
        r = client.get("/api/v1/customers", headers={"Authorization": header})
    assert_error(r, 401, "unauthorized")


def test_a_revoked_token_is_401(api):
    token = api.token(tokens.SCOPE_CUSTOMERS_READ)
    with api.client(token) as client:
        assert client.get("/api/v1/customers").status_code == 200
        with transaction(api.engine) as s:
            tokens.revoke(s, tokens.authenticate(s, token, tokens.SCOPE_CUSTOMERS_READ).id)
        err = assert_error(client.get("/api/v1/customers"), 401, "unauthorized")
    assert "revoked" in err["message"]


@pytest.mark.parametrize("path", CUSTOMER_PATHS)
def test_a_changes_token_cannot_read_customers(feed, path):
    err = assert_error(feed.get(path), 403, "forbidden")
    assert err["details"]["needed_scope"] == tokens.SCOPE_CUSTOMERS_READ
    assert err["details"]["scopes"] == [tokens.SCOPE_CHANGES_READ]


def test_a_customers_token_cannot_read_the_feed(reader):
    err = assert_error(reader.get("/api/v1/changes"), 403, "forbidden")
    assert err["details"]["needed_scope"] == tokens.SCOPE_CHANGES_READ


def test_a_token_with_both_scopes_reads_both(api, town):
    town.customer("Jane O'Brien")
    both = api.token(tokens.SCOPE_CUSTOMERS_READ, tokens.SCOPE_CHANGES_READ)
    with api.client(both) as client:
        assert client.get("/api/v1/customers").status_code == 200
        assert client.get("/api/v1/changes").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers/999999",
        "/api/v1/customers/999999/balances",
        "/api/v1/customers/999999/transactions",
    ],
)
def test_a_missing_customer_id_is_404(town, reader, path):
    town.customer("Jane O'Brien")
    err = assert_error(reader.get(path), 404, "not_found")
    assert err["details"] == {"customer_id": 999999}


def test_a_missing_account_is_404(town, reader):
    town.customer("Jane O'Brien", account="001234-01")
    err = assert_error(reader.get("/api/v1/customers/by-account/9999-1"), 404, "not_found")
    assert err["details"] == {"account": "009999-01"}


def test_an_unknown_community_is_404(town, reader):
    town.customer("Jane O'Brien", account="001234-01")
    for path in ("/api/v1/customers", "/api/v1/customers/by-account/1234-1"):
        err = assert_error(reader.get(path, params={"community": "ATLANTIS"}), 404, "not_found")
        assert "ATLANTIS" in err["message"]


@pytest.mark.parametrize("path", ["/", "/api/v1", "/api/v1/customer", "/api/v2/customers"])
def test_an_unknown_route_is_404(reader, path):
    err = assert_error(reader.get(path), 404, "not_found")
    assert err["details"] == {"path": path}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_api_is_read_only(reader, method):
    err = assert_error(reader.request(method, "/api/v1/customers/1"), 405, "method_not_allowed")
    assert "read-only" in err["message"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/customers/abc", {}, "customer_id"),
        ("/api/v1/customers/0", {}, "customer_id"),
        ("/api/v1/customers/99999999999999999999999", {}, "customer_id"),
        ("/api/v1/customers", {"limit": 0}, "limit"),
        ("/api/v1/customers", {"limit": "ten"}, "limit"),
        ("/api/v1/customers", {"offset": -1}, "offset"),
        ("/api/v1/customers", {"status": "asleep"}, "status"),
        ("/api/v1/customers/by-account/12-34-56", {}, "account_number"),
        ("/api/v1/customers/by-account/1234-00", {}, "account_number"),
        ("/api/v1/customers/1/balances", {"as_of": "31/01/2024"}, "as_of"),
        ("/api/v1/customers/1/transactions", {"since": "yesterday"}, "since"),
        ("/api/v1/customers/1/transactions", {"limit": 10_000}, "limit"),
        ("/api/v1/changes", {"after": -1}, "after"),
        ("/api/v1/changes", {"limit": 1001}, "limit"),
    ],
)
def test_a_bad_parameter_is_422(town, api, path, params, field):
    town.customer("Jane O'Brien", account="001234-01")
    token = api.token(tokens.SCOPE_CUSTOMERS_READ, tokens.SCOPE_CHANGES_READ)
    with api.client(token) as client:
        err = assert_error(client.get(path, params=params), 422, "invalid")
    assert field in err["message"]
    if "errors" in err["details"]:  # FastAPI's validation: every bad parameter listed
        assert err["details"]["field"] == field
        assert {e["field"] for e in err["details"]["errors"]} == {field}
        assert set(err["details"]["errors"][0]) == {"field", "in", "message", "type"}


def test_every_bad_parameter_is_listed(reader):
    r = reader.get("/api/v1/customers", params={"limit": 0, "offset": -5})
    err = assert_error(r, 422, "invalid")
    assert [(e["field"], e["in"]) for e in err["details"]["errors"]] == [
        ("limit", "query"),
        ("offset", "query"),
    ]


def test_auth_is_checked_before_parameters(api):
    with api.client() as anonymous:
        assert_error(anonymous.get("/api/v1/customers", params={"limit": 0}), 401, "unauthorized")
        assert_error(anonymous.get("/api/v1/customers/abc"), 401, "unauthorized")


def test_errors_do_not_stop_later_requests(town, reader, engine):
    town.customer("Jane O'Brien", account="001234-01")
    assert reader.get("/api/v1/customers/999999").status_code == 404
    cid = customer_id(engine, "1234-1")
    assert reader.get(f"/api/v1/customers/{cid}").status_code == 200


def test_an_unreachable_ledger_is_503(tmp_path):
    from civic.api.app import create_app
    from civic.config import Settings
    from tests.api.conftest import serve

    missing = tmp_path / "no" / "such" / "dir" / "ledger.db"
    app = create_app(Settings(ledger_url=f"sqlite:///{missing}"))
    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        r = client.get("/api/v1/customers", headers={"Authorization": "Bearer cl_x"})
        err = assert_error(r, 503, "unavailable")
        assert "cannot use the database" in err["message"]
        assert client.get("/openapi.json").status_code == 200
