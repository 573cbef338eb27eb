"""The portal server keeps its store connections open between requests (``civic serve
portal`` opens the store with ``serving=True``), and a request still sees every sync that
committed before it."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from civic.cli.serve import ledger_explainer
from civic.portal.web.app import create_app
from civic.sync.feeds import LedgerFeed
from civic.sync.run import sync_once
from tests.api.conftest import serve
from tests.builders import Town
from tests.conftest import serving
from tests.portal.web.conftest import Site, add_staff, town_of_two
from tests.sync.helpers import TODAY


def test_a_pooled_server_sees_each_sync_as_it_commits(engine: Engine, portal: Engine) -> None:
    town_of_two(engine, portal)
    add_staff(portal, "cleo", "clerk", "SPRINGFIELD")
    with (
        serving(portal) as served,
        serve(create_app(served, explain=ledger_explainer(engine))) as base,
    ):
        site = Site(base, engine, portal)
        with site.signed_in("cleo") as cleo:
            assert "009001-01" not in cleo.get("/staff/search", params={"q": "Late Arrival"}).text
            if served.dialect.name == "sqlite":
                # The connections the requests used went back to the pool, still open.
                assert served.pool.checkedin() >= 1  # type: ignore[attr-defined]
            Town(engine).customer("Late Arrival", "9001-1").charge("WA", "3.00", "2026-10-15")
            sync_once(LedgerFeed(engine, today=TODAY), portal)
            page = cleo.get("/staff/search", params={"q": "Late Arrival"}).text
            assert "009001-01" in page
