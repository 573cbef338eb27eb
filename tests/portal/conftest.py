"""The portal tests use the sync's fixtures: a ledger and a portal store on each backend."""

from tests.sync.conftest import (  # noqa: F401
    api,
    portal,
    portal_pg_template,
    portal_sqlite_template,
    portal_url,
)
